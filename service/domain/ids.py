"""Public identifiers: a kind prefix, then a time-ordered random ULID-style body."""

from __future__ import annotations

import secrets
from datetime import datetime

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str, moment: datetime) -> str:
    """``<prefix>_`` + 26 Crockford base32 characters: 48-bit ms time, 80 random bits."""
    value = (int(moment.timestamp() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"
