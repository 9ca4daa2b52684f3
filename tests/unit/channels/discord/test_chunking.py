"""Splitting answers into Discord messages: limits, boundaries, code fences, prefix stability."""

from __future__ import annotations

import pytest

from channels.discord.chunking import close_open_fence, open_fence, split_message


def fences_balanced(chunk: str) -> bool:
    return open_fence(chunk) == ""


def content_lines(chunks: list[str]) -> list[str]:
    """Non-empty lines that are not fences: what the reader reads, across messages."""
    return [
        line
        for chunk in chunks
        for line in chunk.split("\n")
        if line.strip() and not line.strip().startswith("```")
    ]


CODE = "```python\n" + "\n".join(f"value_{i} = {i} * 2" for i in range(12)) + "\n```"


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("", 40, []),
        ("   \n", 40, []),
        ("short answer", 40, ["short answer"]),
        # A paragraph break in the second half of the window wins over later line breaks.
        (
            "first paragraph is here\n\nsecond one follows on",
            40,
            ["first paragraph is here", "second one follows on"],
        ),
        # No paragraph break: the last line break.
        (
            "line one is long-ish\nline two is long too\nend",
            40,
            ["line one is long-ish", "line two is long too\nend"],
        ),
        # No line break: the last space.
        ("word " * 12, 40, ["word word word word word word word", "word word word word word "]),
        # One very long word: a hard cut at the budget (limit minus room for a closing fence).
        ("x" * 50, 40, ["x" * 36, "x" * 14]),
        # An answer streaming inside a code block renders with the block closed.
        ("look:\n```py\nprint(1)", 40, ["look:\n```py\nprint(1)\n```"]),
    ],
)
def test_split_table(text: str, limit: int, expected: list[str]) -> None:
    assert split_message(text, limit) == expected


def test_a_cut_inside_a_code_block_closes_it_and_reopens_it_with_its_language() -> None:
    text = "Here is the code:\n\n" + CODE + "\n\nThat is all."

    chunks = split_message(text, 120)

    assert len(chunks) > 2
    assert all(len(c) <= 120 for c in chunks)
    assert all(fences_balanced(c) for c in chunks)
    assert chunks[0].endswith("```")
    assert all(c.startswith("```python\n") for c in chunks[1:-1])
    assert content_lines(chunks) == content_lines([text])


def test_5000_characters_with_a_code_block_make_three_valid_messages() -> None:
    prose = "\n".join(f"Sentence number {i} of the explanation goes here." for i in range(40))
    code = "```python\n" + "\n".join(f"result_{i} = compute({i})" for i in range(90)) + "\n```"
    text = (prose + "\n\n" + code + "\n\n" + prose)[:5000]
    assert len(text) == 5000

    chunks = split_message(text)

    assert len(chunks) == 3
    assert all(len(c) <= 2000 and fences_balanced(c) for c in chunks)
    assert content_lines(chunks) == content_lines([close_open_fence(text)])


@pytest.mark.parametrize("limit", [60, 120, 2000])
def test_appending_text_never_changes_any_chunk_but_the_last(limit: int) -> None:
    text = ("Intro words here.\n\n" + CODE + "\n\nMore prose after it, and more. ") * 6
    previous: list[str] = []
    for end in range(0, len(text) + 1, 7):
        chunks = split_message(text[:end], limit)
        assert chunks[: len(previous) - 1] == previous[:-1]
        assert len(chunks) >= len(previous)
        previous = chunks


@pytest.mark.parametrize(
    ("text", "inside", "expected"),
    [
        ("no code", "", ""),
        ("```js\nlet a", "", "```js"),
        ("```js\nlet a\n```", "", ""),
        ("still code\n```", "```sh", ""),
        ("still code", "```sh", "```sh"),
        ("  ```  \nindented fence", "", "```"),
    ],
)
def test_open_fence(text: str, inside: str, expected: str) -> None:
    assert open_fence(text, inside) == expected


def test_close_open_fence_only_closes_when_open() -> None:
    assert close_open_fence("```\ncode") == "```\ncode\n```"
    assert close_open_fence("```\ncode\n```") == "```\ncode\n```"
