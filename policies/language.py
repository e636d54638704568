"""Language tags (BCP 47, RFC 5646) and choosing a text by language (RFC 4647 lookup).

Pure: no detection here, only the tags' syntax and the fallback rule, shared by the
policy loader (notice translations) and the service (a client's stated language).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# RFC 5646 section 2.1: "langtag" or a private-use tag, letters in either case (the
# same pattern as the `language` field in openapi.yaml). The grandfathered irregular tags
# (i-klingon, en-GB-oed…) are deprecated and left out.
LANGUAGE_TAG = re.compile(
    r"(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8})"  # language, extlang
    r"(?:-[A-Za-z]{4})?"  # script
    r"(?:-(?:[A-Za-z]{2}|[0-9]{3}))?"  # region
    r"(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"  # variants
    r"(?:-[0-9A-WYZa-wyz](?:-[A-Za-z0-9]{2,8})+)*"  # extensions
    r"(?:-[Xx](?:-[A-Za-z0-9]{1,8})+)?"  # private use
    r"|[Xx](?:-[A-Za-z0-9]{1,8})+"
)

MAX_TAG_LENGTH = 64
"""Longer tags are refused: real ones are a few subtags long, and the tag is logged."""

UNDETERMINED = "und"
"""The BCP 47 tag for a language that could not be determined."""


def canonical_tag(text: str) -> str:
    """``text`` as a well-formed BCP 47 tag in lower case (tags compare without case);
    ``ValueError`` saying why when it is not one."""
    if not isinstance(text, str) or not text:
        raise ValueError("a language tag is a non-empty string such as 'fr' or 'en-GB'")
    if len(text) > MAX_TAG_LENGTH:
        raise ValueError(f"a language tag has at most {MAX_TAG_LENGTH} characters")
    if LANGUAGE_TAG.fullmatch(text) is None:
        raise ValueError(
            f"{text!r} is not a well-formed BCP 47 language tag (such as 'fr', 'en-GB' or 'pt-BR')"
        )
    return text.lower()


def lookup_chain(tag: str) -> list[str]:
    """The tags to try for ``tag``, most specific first (RFC 4647 section 3.4 lookup):
    ``zh-hant-tw`` gives ``zh-hant-tw``, ``zh-hant``, ``zh``. A subtag left dangling
    by truncation (a single letter) is dropped with the one after it."""
    subtags = tag.lower().split("-")
    chain = []
    while subtags:
        chain.append("-".join(subtags))
        subtags.pop()
        if subtags and len(subtags[-1]) == 1:
            subtags.pop()
    return chain


def choose(texts: Mapping[str, str], tag: str | None, default: str) -> tuple[str, str]:
    """``(language, text)`` from ``texts`` (keyed by canonical tag) for ``tag``: the
    best match by lookup, else ``default``, which ``texts`` must hold."""
    if tag is not None:
        for candidate in lookup_chain(tag):
            if candidate in texts:
                return candidate, texts[candidate]
    return default, texts[default]
