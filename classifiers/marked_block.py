"""Generated sections of a hand-written Markdown file, between begin and end markers."""

from __future__ import annotations


def with_block(text: str, begin: str, end: str, block: str) -> str:
    """``text`` with every section from a ``begin`` marker to the next ``end`` marker
    (both included) replaced by ``block``, or with ``block`` appended if it has none.

    Plain substring search, so the time is linear in ``text`` however the markers repeat.
    """
    pieces: list[str] = []
    done = 0
    while (start := text.find(begin, done)) != -1:
        stop = text.find(end, start + len(begin))
        if stop == -1:
            break
        pieces += [text[done:start], block]
        done = stop + len(end)
    if not pieces:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    pieces.append(text[done:])
    return "".join(pieces)
