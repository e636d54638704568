"""Time as the log writes it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """Fixed-width UTC with milliseconds, so text order equals time order."""
    u = moment.astimezone(UTC)
    # Formatted by hand: strftime's %Y does not zero-pad years before 1000.
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:"
        f"{u.second:02d}.{u.microsecond // 1000:03d}Z"
    )


def parse_rfc3339(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("time zone required")
    return moment.astimezone(UTC)
