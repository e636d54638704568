"""Generated sections of hand-written Markdown files."""

from __future__ import annotations

import time

from classifiers.marked_block import with_block

BEGIN, END = "<!-- x:begin -->", "<!-- x:end -->"


def test_the_marked_section_is_replaced_and_the_rest_kept() -> None:
    text = f"intro\n{BEGIN}\nold\n{END}\noutro\n"
    assert with_block(text, BEGIN, END, f"{BEGIN}\nnew\n{END}") == (
        f"intro\n{BEGIN}\nnew\n{END}\noutro\n"
    )


def test_a_file_without_a_section_gets_one_appended() -> None:
    assert with_block("intro\n\n\n", BEGIN, END, "B") == "intro\n\nB\n"
    # A begin marker with no end is not a section.
    assert with_block(f"intro {BEGIN} x", BEGIN, END, "B") == f"intro {BEGIN} x\n\nB\n"


def test_many_unclosed_begin_markers_take_linear_time() -> None:
    # A lazy "begin.*?end" regex rescans the rest of the file from every begin marker.
    text = BEGIN * 50_000
    started = time.perf_counter()
    with_block(text, BEGIN, END, "B")
    assert time.perf_counter() - started < 2.0
