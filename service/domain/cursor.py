"""Opaque, versioned page cursors, and the bound of the positions they name."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

# Log indexes and tree sizes are signed 64-bit columns.
MAX_INT64 = (1 << 63) - 1


@dataclass(frozen=True)
class CursorFormat:
    """An opaque page cursor: unpadded base64url of ASCII
    ``<version>,<scope>,<field>,…``.

    ``scope`` names the list it pages (a log cursor is no appeals cursor) and
    ``fields`` are the patterns its fields must match in full. Decoding is strict: the
    text must be the exact encoding this format issues (canonical base64url, at most
    ``MAX_CURSOR`` characters, the current version, this scope, every field matching),
    so any string decodes to a position the caller can use or to a ``ValueError``.
    """

    scope: str
    fields: tuple[re.Pattern[str], ...]

    VERSION = "1"
    MAX_CURSOR = 128

    def encode(self, *values: str) -> str:
        if len(values) != len(self.fields) or not all(
            p.fullmatch(v) for p, v in zip(self.fields, values, strict=True)
        ):
            raise AssertionError(f"not a {self.scope} cursor position: {values!r}")
        plain = ",".join((self.VERSION, self.scope, *values)).encode("ascii")
        return base64.urlsafe_b64encode(plain).decode("ascii").rstrip("=")

    def decode(self, cursor: str) -> tuple[str, ...]:
        if len(cursor) > self.MAX_CURSOR or not _BASE64URL.fullmatch(cursor):
            raise ValueError("not a cursor")
        try:
            plain = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ValueError("not a cursor") from exc
        # Several texts decode to the same bytes (unused trailing bits); only the one
        # this format issues is accepted.
        if base64.urlsafe_b64encode(plain).decode("ascii").rstrip("=") != cursor:
            raise ValueError("not a cursor")
        if not plain.isascii():
            raise ValueError("not a cursor")
        version, scope, *values = plain.decode("ascii").split(",")
        if (version, scope) != (self.VERSION, self.scope) or len(values) != len(self.fields):
            raise ValueError("not a cursor")
        if not all(p.fullmatch(v) for p, v in zip(self.fields, values, strict=True)):
            raise ValueError("not a cursor")
        return tuple(values)


_BASE64URL = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
