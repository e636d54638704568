"""Query parameters, parsed in one place.

Every route and page reads its query string through these functions, so a parameter
means the same thing everywhere and a malformed one is the same answer everywhere: a
400 ``bad-parameter`` (or ``bad-cursor``) naming it as ``#/query/<name>``, problem+json
on the API and an error page on the pages. Nothing here touches storage: a value that
leaves this module is in range for every column it is compared with.

The rules, for every parameter:

- an empty value is the same as no value (HTML forms send empty fields);
- a parameter given twice is refused, rather than one copy silently winning (a proxy
  or cache in front might have read the other);
- at most ``MAX_LENGTH`` characters, no NUL, nothing that is not UTF-8;
- integers are ASCII digits with an optional minus sign, within the bounds the route
  documents (``int()`` alone would take ``" 7"``, ``"1_000"`` or ``"٧"``);
- times are RFC 3339 with a zone, returned as the log's fixed-width UTC form;
- cursors are opaque, versioned and bounded (``CursorFormat``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

from werkzeug.datastructures import MultiDict

from policies.model import ACTIONS
from service.clock import rfc3339
from service.domain import log_query
from service.domain.cursor import MAX_INT64, CursorFormat
from service.http.body import text_problem
from service.http.problems import Problem, field_error

MAX_LENGTH = 256

Args = MultiDict[str, str]

_INTEGER = re.compile(r"-?[0-9]{1,19}", re.ASCII)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def bad_parameter(name: str, detail: str, slug: str = "bad-parameter") -> Problem:
    """The 400 for query parameter ``name``."""
    return Problem(400, slug, f"{name}: {detail}", [field_error(f"#/query/{name}", detail)])


def raw(args: Args, name: str) -> str | None:
    """The one value of ``name`` as sent, None when absent or empty."""
    values = args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise bad_parameter(name, "Give this parameter at most once.")
    value = values[0]
    if len(value) > MAX_LENGTH:
        raise bad_parameter(name, f"At most {MAX_LENGTH} characters.")
    why = text_problem(value)
    if why is not None:
        raise bad_parameter(name, f"The value {why}.")
    return value or None


def text(args: Args, name: str) -> str | None:
    """A free-text filter (an app, a rule id …): any short, clean string."""
    return raw(args, name)


def choice(args: Args, name: str, choices: Sequence[str], default: str | None = None) -> str | None:
    """One of ``choices``, or ``default`` when absent."""
    value = raw(args, name)
    if value is None:
        return default
    if value not in choices:
        raise bad_parameter(name, f"One of {', '.join(choices)}.")
    return value


def matching(args: Args, name: str, pattern: re.Pattern[str], detail: str) -> str | None:
    """A value that ``pattern`` matches in full; ``detail`` says what is expected."""
    value = raw(args, name)
    if value is not None and not pattern.fullmatch(value):
        raise bad_parameter(name, detail)
    return value


def integer(
    args: Args,
    name: str,
    *,
    minimum: int,
    maximum: int = MAX_INT64,
    default: int | None = None,
    required: bool = False,
) -> int | None:
    """An integer from ``minimum`` to ``maximum``; ``default`` when absent, unless
    ``required``."""
    value = raw(args, name)
    if value is None:
        if required:
            raise bad_parameter(name, "Required.")
        return default
    number = int(value) if _INTEGER.fullmatch(value) else None
    if number is None or not minimum <= number <= maximum:
        raise bad_parameter(name, f"An integer from {minimum} to {maximum}.")
    return number


def limit(args: Args, *, default: int, maximum: int) -> int:
    """A page size from 1 to ``maximum``."""
    value = integer(args, "limit", minimum=1, maximum=maximum, default=default)
    assert value is not None
    return value


def time(args: Args, name: str) -> str | None:
    """An RFC 3339 date-time with a zone, as the log writes times (fixed-width UTC with
    milliseconds, so it compares with log times as text)."""
    value = raw(args, name)
    if value is None:
        return None
    moment = parse_time(value)
    if moment is None:
        raise bad_parameter(name, "An RFC 3339 date-time with a zone, years 1000 to 9999 in UTC.")
    return rfc3339(moment)


def parse_time(value: str) -> datetime | None:
    """``value`` as an aware UTC datetime, or None when it is not RFC 3339 (section 5.6)
    or falls outside the years the log's four-digit times can hold."""
    found = _RFC3339.fullmatch(value)
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, oh, om = found.groups()
    try:
        offset = timedelta(0)
        if not zulu:
            if int(oh) > 23 or int(om) > 59:
                return None
            offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=timezone(offset),
        ).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return moment if 1000 <= moment.year <= 9999 else None


def cursor(args: Args, fmt: CursorFormat, name: str = "cursor") -> tuple[str, ...] | None:
    """The fields of the cursor in ``name``, None when absent."""
    value = raw(args, name)
    if value is None:
        return None
    try:
        return fmt.decode(value)
    except ValueError:
        raise bad_parameter(name, "Not a cursor this service issued.", "bad-cursor") from None


def parse_log_query(args: Args, default_order: str = "asc") -> log_query.LogQuery:
    """Build the query from request arguments; a bad one is a 400 naming the parameter.

    Everything a query can get wrong is found here, before any row is read or a byte of
    an export is sent.
    """
    filters = {}
    for name in log_query.FILTERS:
        value = (
            choice(args, name, log_query.KINDS)
            if name == "kind"
            else choice(args, name, ACTIONS)
            if name == "action"
            else text(args, name)
        )
        if value is not None:
            filters[name] = value
    order = choice(args, "order", ("asc", "desc"), default_order)
    assert order is not None
    page_limit = limit(args, default=log_query.DEFAULT_LIMIT, maximum=log_query.MAX_LIMIT)
    cursor_text = raw(args, "cursor")
    after = integer(args, "after", minimum=-1, maximum=log_query.MAX_POSITION)
    if cursor_text is not None and after is not None:
        raise bad_parameter("after", "Not together with cursor.")
    if cursor_text is not None:
        try:
            order, after = log_query.decode_cursor(cursor_text)
        except ValueError:
            raise bad_parameter("cursor", "Not a cursor this log issued.", "bad-cursor") from None
    since, until = time(args, "since"), time(args, "until")
    return log_query.LogQuery(filters, since, until, order, after, page_limit)
