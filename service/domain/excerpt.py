"""What of a text the public may read, per the policy's ``public_excerpt``, and the
commitment to it that the log holds instead of the excerpt itself."""

from __future__ import annotations

from collections.abc import Sequence

import re2

from service.domain.privacy import content_commitment

MASK = "█"
# Personal data a bystander should never read in a public log, even in a "redacted" excerpt.
# The text is anyone's, so the pattern runs on RE2, in time linear in the text; RE2's \w
# and \d are ASCII-only, so letters and digits are named by Unicode category.
_PERSONAL = re2.compile(
    r"[\pL\pN_.+-]+@[\pL\pN_-]+(?:\.[\pL\pN_-]+)+"  # e-mail addresses
    r"|https?://\S+|www\.\S+"  # links
    r"|@[\pL\pN_]{2,}"  # @mentions
    r"|\+?\pN[\pN ().-]{6,}\pN"  # phone-like digit runs
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


def excerpt_field(salt: bytes, excerpt: str | None) -> dict[str, str] | None:
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
