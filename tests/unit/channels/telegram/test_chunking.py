"""Splitting answers at Telegram's 4096-character limit."""

from __future__ import annotations

import pytest

from channels.telegram.chunking import split_tokens, utf16_length
from channels.telegram.formatting import Close, Open, Text, Token, markdown_tokens, plain_text
from tests.fakes.telegram import visible_text


def chunks_of(markdown: str, limit: int) -> list[tuple[str, str]]:
    return [(c.html, c.plain) for c in split_tokens(markdown_tokens(markdown), limit)]


@pytest.mark.parametrize(
    ("markdown", "limit", "expected"),
    [
        ("short", 10, [("short", "short")]),
        ("", 10, [("", "")]),
        # A paragraph break in the second half of the window wins...
        ("aaaa bbbb\n\ncc", 12, [("aaaa bbbb\n\n", "aaaa bbbb\n\n"), ("cc", "cc")]),
        # ...then a line break...
        ("aaaa bb\ncc dd", 10, [("aaaa bb\n", "aaaa bb\n"), ("cc dd", "cc dd")]),
        # ...then a space...
        ("aaaa bbbb cccc", 10, [("aaaa bbbb ", "aaaa bbbb "), ("cccc", "cccc")]),
        # ...and a word longer than the window is cut hard.
        ("abcdefghijkl", 5, [("abcde", "abcde"), ("fghij", "fghij"), ("kl", "kl")]),
        # Entities are never cut: splitting works on text, escaping comes after.
        ("a&b&c&d", 4, [("a&amp;b&amp;", "a&b&"), ("c&amp;d", "c&d")]),
        # Tags open at the split are closed and reopened.
        (
            "**bold words here**",
            12,
            [("<b>bold words </b>", "bold words "), ("<b>here</b>", "here")],
        ),
        (
            "```py\nline one\nline two\n```",
            12,
            [
                ('<pre><code class="language-py">line one\n</code></pre>', "line one\n"),
                ('<pre><code class="language-py">line two</code></pre>', "line two"),
            ],
        ),
        # A tag that would open exactly at the split moves to the next message.
        ("aaaa **bb**", 5, [("aaaa ", "aaaa "), ("<b>bb</b>", "bb")]),
        # Whitespace-only leftovers are not sent (Telegram refuses empty messages).
        ("aaaa\n\n\n\n", 5, [("aaaa\n", "aaaa\n")]),
    ],
)
def test_split_points(markdown: str, limit: int, expected: list[tuple[str, str]]) -> None:
    assert chunks_of(markdown, limit) == expected


def test_lengths_count_utf16_units() -> None:
    # "😀" is one code point but two UTF-16 units: Telegram counts the latter.
    chunks = split_tokens([Text("😀" * 5)], 4)
    assert [c.plain for c in chunks] == ["😀😀", "😀😀", "😀"]
    assert all(utf16_length(c.plain) <= 4 for c in chunks)


def test_a_long_answer_splits_into_valid_messages_and_loses_nothing() -> None:
    paragraph = "Words & more <words> with **bold** and `code`. " * 8
    code = "```python\n" + "\n".join(f"value_{i} = {i} < {i + 1}" for i in range(120)) + "\n```"
    markdown = "\n\n".join([paragraph] * 6 + [code] + [paragraph] * 4)
    tokens = markdown_tokens(markdown)

    chunks = split_tokens(tokens, 1000)

    assert len(chunks) > 3
    for chunk in chunks:
        assert visible_text(chunk.html) == chunk.plain
        assert utf16_length(chunk.plain) <= 1000
    assert "".join(c.plain for c in chunks) == plain_text(tokens)
    # The code block continues as a code block in the next message.
    with_code = [c.html for c in chunks if "value_" in c.plain]
    assert len(with_code) >= 2
    assert all('<pre><code class="language-python">' in html for html in with_code)


def test_unbalanced_tokens_are_a_bug_not_a_message() -> None:
    tokens: list[Token] = [Open("b"), Text("x"), Close("i")]
    with pytest.raises(ValueError, match="unbalanced"):
        split_tokens(tokens)
