"""ISO-8601 durations as policy authors write them (``P90D``, ``P6M``, ``PT12H``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

import isodate

# Whole numbers only: isodate reads "P1.5Y" as one year and drops the half without a word,
# and an expiry date must never depend on such rounding.
_FORMAT = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)
_UNITS = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")
_SINGULAR = {
    "years": "year",
    "months": "month",
    "weeks": "week",
    "days": "day",
    "hours": "hour",
    "minutes": "minute",
    "seconds": "second",
}
# French unit names, singular and plural ("mois" is both).
_FRENCH = {
    "years": ("an", "ans"),
    "months": ("mois", "mois"),
    "weeks": ("semaine", "semaines"),
    "days": ("jour", "jours"),
    "hours": ("heure", "heures"),
    "minutes": ("minute", "minutes"),
    "seconds": ("seconde", "secondes"),
}
# Start dates for comparing month-based durations: four years from a leap year meet every
# month length and every "31st plus a month" clamp.
_CYCLE_START = datetime(2000, 1, 1, tzinfo=UTC)
_CYCLE_DAYS = 366 + 365 * 3


@dataclass(frozen=True)
class Duration:
    """A positive ISO-8601 duration, kept exactly as written in ``text``."""

    text: str
    parts: tuple[tuple[str, int], ...] = field(repr=False)

    def add_to(self, moment: datetime) -> datetime:
        """``moment`` plus this duration; months and years follow the calendar
        (31 January plus ``P1M`` is the last day of February)."""
        return moment + self._offset

    def describe(self) -> str:
        """Plain English, e.g. ``"1 year and 2 months"`` for ``P1Y2M``."""
        words = [f"{n} {unit if n != 1 else _SINGULAR[unit]}" for unit, n in self.parts]
        return _join(words, "and")

    def describe_french(self) -> str:
        """Plain French, e.g. ``"1 an et 2 mois"`` for ``P1Y2M``."""
        words = [f"{n} {_FRENCH[unit][0 if n <= 1 else 1]}" for unit, n in self.parts]
        return _join(words, "et")

    def is_at_least(self, other: Duration) -> bool:
        """True when this duration reaches at least as far as ``other`` from every start
        date (``P5M30D`` is shorter than ``P6M`` when counted from 31 July)."""
        mine, theirs = dict(self.parts), dict(other.parts)
        months = mine.get("years", 0) * 12 + mine.get("months", 0)
        other_months = theirs.get("years", 0) * 12 + theirs.get("months", 0)
        if months >= other_months and self._fixed() >= other._fixed():
            return True
        for day in range(_CYCLE_DAYS):
            start = _CYCLE_START + timedelta(days=day)
            if self.add_to(start) < other.add_to(start):
                return False
        return True

    def _fixed(self) -> timedelta:
        parts = dict(self.parts)
        return timedelta(
            weeks=parts.get("weeks", 0),
            days=parts.get("days", 0),
            hours=parts.get("hours", 0),
            minutes=parts.get("minutes", 0),
            seconds=parts.get("seconds", 0),
        )

    # Built once per duration: a policy's durations are added to every decision's time.
    @cached_property
    def _offset(self) -> timedelta | isodate.Duration:
        parts = dict(self.parts)
        years, months = parts.get("years", 0), parts.get("months", 0)
        if years or months:
            return isodate.Duration(years=years, months=months) + self._fixed()
        return self._fixed()


def parse_duration(text: str) -> Duration:
    """Parse a positive ISO-8601 duration such as ``P90D``, ``P6M``, ``PT12H`` or
    ``P1Y2M``; raises ``ValueError`` saying what is wrong otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"must be an ISO-8601 duration such as P90D, not {text!r}")
    if text.startswith("-"):
        raise ValueError(f"{text!r} is negative; a duration must be longer than zero")
    found = _FORMAT.fullmatch(text)
    if found is None or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(
            f"{text!r} is not an ISO-8601 duration; write whole numbers like P90D, "
            "P6M, P1Y2M or PT12H"
        )
    parts = tuple((unit, int(found[unit])) for unit in _UNITS if found[unit] is not None)
    if all(n == 0 for _, n in parts):
        raise ValueError(f"{text!r} is zero; a duration must be longer than zero")
    # Drop written zeros ("P0Y6M") so describe() reads naturally; text keeps them.
    return Duration(text=text, parts=tuple((unit, n) for unit, n in parts if n))


def _join(words: list[str], conjunction: str) -> str:
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + f" {conjunction} " + words[-1]
