"""What of a text the public may read, per the policy's ``public_excerpt``, and the
commitment to it that the log holds instead of the excerpt itself."""

from __future__ import annotations

import re
from collections.abc import Sequence

from service.privacy import content_commitment

MASK = "█"
# Personal data a bystander should never read in a public log, even in a "redacted" excerpt.
_PERSONAL = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|https?://\S+|www\.\S+"  # links
    r"|@\w{2,}"  # @mentions
    r"|\+?\d[\d ().-]{6,}\d"  # phone-like digit runs
)


def public_excerpt(mode: str, text: str, spans: Sequence[tuple[int, int]]) -> str | None:
    """``none`` → None; ``full`` → the text; ``redacted`` → the text with the matched
    spans and personal data (addresses, links, mentions, phone numbers) masked."""
    if mode == "none":
        return None
    if mode == "full":
        return text
    if mode != "redacted":
        raise ValueError(f"unknown public_excerpt mode {mode!r}")
    chars = list(text)
    ranges = list(spans) + [m.span() for m in _PERSONAL.finditer(text)]
    for start, end in ranges:
        for i in range(max(0, start), min(end, len(chars))):
            if not chars[i].isspace():
                chars[i] = MASK
    return "".join(chars)


def excerpt_field(salt: bytes, excerpt: str | None) -> dict | None:
    """The decision body's ``excerpt``: ``{"commitment": "sha256:…"}`` of salt ‖ UTF-8
    excerpt, or None when the policy publishes none.

    The excerpt itself is kept beside the log and served next to the entry, so erasure
    can delete it while the entry still verifies; the salt (served with the excerpt,
    erased with it) stops anyone from confirming a guessed text against the commitment
    once the excerpt is gone.
    """
    if excerpt is None:
        return None
    return {"commitment": content_commitment(salt, excerpt)}
