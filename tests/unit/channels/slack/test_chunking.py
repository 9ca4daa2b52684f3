"""Cutting long answers for Slack: at paragraph, line or word ends, code blocks kept valid."""

from __future__ import annotations

import pytest

from channels.slack.chunking import cut_point, split_text


@pytest.mark.parametrize(
    ("text", "room", "cut"),
    [
        ("short", 10, 5),
        ("first paragraph\n\nsecond one", 20, 17),
        ("line one\nline two\nline three", 20, 18),
        ("some words here and there", 12, 11),
        ("x" * 30, 10, 10),
        ("a\n\n" + "b" * 30, 20, 20),  # a break too early to be worth it: cut hard
    ],
)
def test_the_cut_prefers_paragraphs_then_lines_then_words(text: str, room: int, cut: int) -> None:
    assert cut_point(text, room) == cut


def test_pieces_fit_and_keep_every_word_in_order() -> None:
    text = "\n\n".join(f"Paragraph {i}: " + "word " * 20 for i in range(8))

    pieces = split_text(text, 200)

    assert len(pieces) > 1
    assert all(len(piece) <= 200 for piece in pieces)
    assert " ".join(" ".join(p.split()) for p in pieces) == " ".join(text.split())


def test_a_code_block_cut_in_two_is_closed_and_reopened() -> None:
    code = "\n".join(f"line_{i} = {i}" for i in range(30))
    text = f"Here:\n```\n{code}\n```\nDone."

    pieces = split_text(text, 120)

    assert len(pieces) > 1
    for piece in pieces:
        assert len(piece) <= 120
        assert sum(1 for line in piece.split("\n") if line.startswith("```")) % 2 == 0, piece


def test_short_text_is_one_piece_and_empty_text_too() -> None:
    assert split_text("hello", 100) == ["hello"]
    assert split_text("", 100) == [""]
