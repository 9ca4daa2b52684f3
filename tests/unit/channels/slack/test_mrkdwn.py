"""Markdown → Slack mrkdwn, for text that is posted rather than streamed."""

from __future__ import annotations

import pytest

from channels.slack.mrkdwn import RULE, close_fence, to_mrkdwn


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("plain", "plain"),
        ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
        ("**bold** and __bold__", "*bold* and *bold*"),
        ("*it* and _it_", "_it_ and _it_"),
        ("~~gone~~", "~gone~"),
        ("**bold with _italic_ inside**", "*bold with _italic_ inside*"),
        ("snake_case_name and 2 * 3 * 4", "snake_case_name and 2 * 3 * 4"),
        ("**unclosed bold", "**unclosed bold"),
        ("\\*not italic\\*", "*not italic*"),
        ("`x < 1` and `**not bold**`", "`x &lt; 1` and `**not bold**`"),
        ("``code with ` tick``", "`code with ` tick`"),
        ("[docs](https://x.org/?a=1&b=2)", "<https://x.org/?a=1&amp;b=2|docs>"),
        ('[docs](https://x.org "Title")', "<https://x.org|docs>"),
        ("[**bold** link](https://x.org)", "<https://x.org|*bold* link>"),
        ("[pipe](https://x.org/a|b>c)", "<https://x.org/a%7Cb%3Ec|pipe>"),
        ("[mail](mailto:a@b.org)", "<mailto:a@b.org|mail>"),
        ("[evil](javascript:alert(1))", "[evil](javascript:alert(1))"),
        ("<https://x.org/page>", "<https://x.org/page>"),
        ("bare https://x.org/?a=1&b=2 link", "bare https://x.org/?a=1&amp;b=2 link"),
        ("# Title", "*Title*"),
        ("### Title ###", "*Title*"),
        ("## **Already bold**", "*Already bold*"),
        ("- one\n* two\n  + three", "• one\n• two\n  • three"),
        ("1. first\n2) second", "1. first\n2. second"),
        ("- **bold** item", "• *bold* item"),
        ("> quoted **b**\n>\nafter", "> quoted *b*\n>\nafter"),
        ("---", RULE),
        ("* * *", RULE),
        (
            "before\n```python\nif a < b:\n    print(**x)\n```\nafter",
            "before\n```\nif a &lt; b:\n    print(**x)\n```\nafter",
        ),
        ("~~~\ntilde fence\n~~~", "```\ntilde fence\n```"),
        ("```\n# not a heading\n- not a list\n```", "```\n# not a heading\n- not a list\n```"),
        ("para one\n\npara two", "para one\n\npara two"),
    ],
)
def test_markdown_becomes_mrkdwn(markdown: str, expected: str) -> None:
    assert to_mrkdwn(markdown) == expected


@pytest.mark.parametrize(
    ("partial", "expected"),
    [
        ("no code", "no code"),
        ("```py\nx = 1", "```py\nx = 1\n```"),
        ("```\nclosed\n```\nafter", "```\nclosed\n```\nafter"),
        ("```\none\n```\n```\ntwo", "```\none\n```\n```\ntwo\n```"),
    ],
)
def test_a_partial_answer_gets_its_open_code_block_closed(partial: str, expected: str) -> None:
    assert close_fence(partial) == expected


def test_a_partial_render_of_an_open_code_block_is_valid_mrkdwn() -> None:
    assert to_mrkdwn(close_fence("Look:\n```python\nif a < b:")) == "Look:\n```\nif a &lt; b:\n```"
