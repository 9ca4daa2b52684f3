"""Markdown, as the models write it, → Slack ``mrkdwn`` for text that is not streamed.

Native streams take standard Markdown (``markdown_text``), but ``chat.postMessage``/``chat.update``
``text`` and section blocks speak mrkdwn: ``*bold*``, ``_italic_``, ``~strike~``, ``<url|label>``,
no headings and no list syntax, and ``&``, ``<``, ``>`` must be escaped as ``&amp;``, ``&lt;``,
``&gt;`` (docs.slack.dev, "Formatting text for app surfaces"). Code keeps its content verbatim
(escaped only), fenced blocks lose their language tag, which Slack would show as code.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_QUOTE = re.compile(r"^>\s?(.*)$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^(\s*)(\d{1,9})[.)]\s+(.*)$")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_INLINE = re.compile(
    r"\\(?P<escaped>[\\`*_~\[\]()#+\-.!>])"  # \* is a literal star
    # [label](url "title"), web and mail links only (a javascript: link stays text)
    r"|\[(?P<label>[^\]\n]+)\]\((?P<url>(?:https?://|mailto:)[^)\s]+)(?:\s+\"[^\"]*\")?\)"
    r"|<(?P<auto>(?:https?|mailto):[^>\s]+)>"  # <https://autolink>
    r"|\*\*(?P<bold>[^\n]+?)\*\*|__(?P<bold2>[^\n]+?)__"
    r"|~~(?P<strike>[^\n]+?)~~"
    r"|(?<![\w*])\*(?![\s*])(?P<italic>[^\n*]+?)(?<!\s)\*(?![\w*])"
    r"|(?<![\w_])_(?![\s_])(?P<italic2>[^\n_]+?)(?<!\s)_(?![\w_])"
)
RULE = "──────────"


def escape(text: str) -> str:
    """Escape the three characters Slack reserves for markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """Convert ``markdown`` line by line; an unclosed code fence stays open (see :func:`close_fence`)."""
    out: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        opened = _FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)
            rest = line[opened.end() :]
            # "```python" opens a block; the language tag would show up as code in Slack.
            out.append("```" if not rest.strip() or rest.strip().isidentifier() else "```" + rest)
        elif fence is not None:
            if line.strip() == fence:
                fence = None
                out.append("```")
            else:
                out.append(escape(line))
        else:
            out.append(_line(line))
    return "\n".join(out)


def close_fence(markdown: str) -> str:
    """``markdown`` with a code block left open at its end closed (partial renders)."""
    open_fence = False
    for line in markdown.split("\n"):
        if _FENCE.match(line):
            open_fence = not open_fence
    return f"{markdown}\n```" if open_fence else markdown


def _line(line: str) -> str:
    if _RULE.match(line):
        return RULE
    if heading := _HEADING.match(line):
        title = _inline(heading.group(1))
        return title if title.startswith("*") and title.endswith("*") else f"*{title}*"
    if quote := _QUOTE.match(line):
        return "> " + _line(quote.group(1)) if quote.group(1) else ">"
    if bullet := _BULLET.match(line):
        return f"{bullet.group(1)}• {_inline(bullet.group(2))}"
    if numbered := _NUMBERED.match(line):
        return f"{numbered.group(1)}{numbered.group(2)}. {_inline(numbered.group(3))}"
    return _inline(line)


def _inline(text: str) -> str:
    """Inline markup of one line; code spans are kept apart so nothing inside them changes."""
    out: list[str] = []
    position = 0
    for span in _CODE_SPAN.finditer(text):
        out.append(_styles(text[position : span.start()]))
        out.append(f"`{escape(span.group(2).strip() or span.group(2))}`")
        position = span.end()
    out.append(_styles(text[position:]))
    return "".join(out)


def _styles(text: str) -> str:
    out: list[str] = []
    position = 0
    for match in _INLINE.finditer(text):
        out.append(escape(text[position : match.start()]))
        out.append(_style(match))
        position = match.end()
    out.append(escape(text[position:]))
    return "".join(out)


def _style(match: re.Match[str]) -> str:
    groups = match.groupdict()
    if groups["escaped"] is not None:
        return escape(groups["escaped"])
    if groups["label"] is not None:
        return f"<{_link_target(groups['url'])}|{_styles(groups['label'])}>"
    if groups["auto"] is not None:
        return f"<{_link_target(groups['auto'])}>"
    if (bold := groups["bold"] or groups["bold2"]) is not None:
        return f"*{_styles(bold)}*"
    if groups["strike"] is not None:
        return f"~{_styles(groups['strike'])}~"
    italic = groups["italic"] or groups["italic2"] or ""
    return f"_{_styles(italic)}_"


def _link_target(url: str) -> str:
    # Inside <…> a "|" starts the label and ">" ends the link: percent-encode them.
    return escape(url.replace("|", "%7C")).replace("&gt;", "%3E").replace("&lt;", "%3C")
