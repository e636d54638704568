"""What the public log says about people and content instead of their ids and words."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def subject_pseudonym(secret: bytes, app: str, user_id: str) -> str:
    """``sub_`` + HMAC-SHA256(secret, app ‖ 0x00 ‖ user id), first 128 bits.

    Stable for one person on one app, so they can find everything done to them, and
    unlinkable by anyone without the instance secret. The NUL keeps ("ab", "c") and
    ("a", "bc") apart.
    """
    mac = hmac.new(secret, app.encode() + b"\x00" + user_id.encode(), hashlib.sha256)
    return "sub_" + mac.hexdigest()[:32]


def new_salt() -> bytes:
    return secrets.token_bytes(16)


def content_commitment(salt: bytes, text: str) -> str:
    """A hiding commitment to the text: ``sha256:`` of salt ‖ UTF-8 text."""
    return "sha256:" + hashlib.sha256(salt + text.encode("utf-8")).hexdigest()
