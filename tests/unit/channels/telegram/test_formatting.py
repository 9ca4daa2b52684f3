"""Markdown → Telegram HTML: what the user reads, valid at every partial render."""

from __future__ import annotations

import pytest

from channels.telegram.formatting import markdown_tokens, plain_text, to_html
from tests.fakes.telegram import visible_text


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("plain", "plain"),
        ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
        ("**bold** and __bold__", "<b>bold</b> and <b>bold</b>"),
        ("*it* and _it_", "<i>it</i> and <i>it</i>"),
        ("~~gone~~", "<s>gone</s>"),
        ("`x < 1`", "<code>x &lt; 1</code>"),
        ("**bold `code` inside**", "<b>bold <code>code</code> inside</b>"),
        ("snake_case_name and 2 * 3 * 4", "snake_case_name and 2 * 3 * 4"),
        ("**unclosed bold", "**unclosed bold"),
        ("a `b", "a `b"),
        ("\\*not italic\\*", "*not italic*"),
        ("[docs](https://x.org/?a=1&b=2)", '<a href="https://x.org/?a=1&amp;b=2">docs</a>'),
        ("[**bold** link](https://x.org)", '<a href="https://x.org"><b>bold</b> link</a>'),
        ("[evil](javascript:alert(1))", "[evil](javascript:alert(1))"),
        ("# Title", "<b>Title</b>"),
        ("### Title ###", "<b>Title</b>"),
        ("- one\n* two\n  + three", "• one\n• two\n  • three"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("> quoted\n> twice\nafter", "<blockquote>quoted\ntwice</blockquote>\nafter"),
        (
            "before\n```python\nif a < b:\n    pass\n```\nafter",
            'before\n<pre><code class="language-python">if a &lt; b:\n    pass</code></pre>\nafter',
        ),
        ("```\nstill open", "<pre><code>still open</code></pre>"),
        ("```", "<pre><code></code></pre>"),
        ("~~~\ntilde fence\n~~~", "<pre><code>tilde fence</code></pre>"),
        ("para one\n\npara two", "para one\n\npara two"),
    ],
)
def test_markdown_renders_as_telegram_html(markdown: str, expected: str) -> None:
    assert to_html(markdown_tokens(markdown)) == expected


@pytest.mark.parametrize(
    ("markdown", "visible"),
    [
        ("**Hi** <there> & `you`", "Hi <there> & you"),
        ("```py\ncode\n```\ntext", "code\ntext"),
        ("- item", "• item"),
    ],
)
def test_plain_text_is_what_the_user_reads(markdown: str, visible: str) -> None:
    tokens = markdown_tokens(markdown)
    assert plain_text(tokens) == visible
    assert visible_text(to_html(tokens)) == visible


ANSWER = """# Plan
Here is **the plan** for _today_, with `code` and a [link](https://example.org/?q=1&r=2).

- step one: compare a < b & c > d
- step *two*

```python
def greet(name: str) -> str:
    return f"<b>{name}</b> & co"
```

> Quoted **wisdom**
> on two lines

Done ~~soon~~ now. 2 * 3 * 4 = 24, snake_case_stays."""


def test_every_prefix_of_a_streamed_answer_is_valid_html() -> None:
    # The adapter re-renders the whole text on every flush; whatever was cut mid-construct must
    # still parse (the fake validates as Telegram does and raises on unbalanced or bare markup).
    for end in range(len(ANSWER) + 1):
        rendered = to_html(markdown_tokens(ANSWER[:end]))
        visible_text(rendered)
