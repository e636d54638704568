"""ISO-8601 durations: parsing, calendar arithmetic, comparison."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from policies.duration import parse_duration


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("P90D", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)),
        ("P6M", datetime(2025, 8, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC)),
        ("P1M", datetime(2024, 1, 31, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC)),
        ("P1Y2M", datetime(2024, 1, 15, tzinfo=UTC), datetime(2025, 3, 15, tzinfo=UTC)),
        ("PT12H", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, 12, tzinfo=UTC)),
        ("P2W", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 15, tzinfo=UTC)),
    ],
)
def test_add_to_follows_the_calendar(text: str, start: datetime, end: datetime) -> None:
    duration = parse_duration(text)
    assert duration.text == text
    assert duration.add_to(start) == end


@pytest.mark.parametrize(
    ("text", "words"),
    [("P7D", "7 days"), ("P1D", "1 day"), ("P1Y2M", "1 year and 2 months"), ("PT12H", "12 hours")],
)
def test_describe(text: str, words: str) -> None:
    assert parse_duration(text).describe() == words


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("P0D", "is zero"),
        ("PT0S", "is zero"),
        ("-P1D", "is negative"),
        ("P1.5Y", "is not an ISO-8601 duration"),
        ("90 days", "is not an ISO-8601 duration"),
        ("P", "is not an ISO-8601 duration"),
        ("P1DT", "is not an ISO-8601 duration"),
        ("", "is not an ISO-8601 duration"),
    ],
)
def test_invalid_durations(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


def test_is_at_least_holds_from_every_start_date() -> None:
    six_months = parse_duration("P6M")
    assert parse_duration("P6M").is_at_least(six_months)
    assert parse_duration("P1Y").is_at_least(six_months)
    assert parse_duration("P184D").is_at_least(six_months)
    assert not parse_duration("P183D").is_at_least(six_months)
    assert not parse_duration("P5M30D").is_at_least(six_months)  # short from 31 July
