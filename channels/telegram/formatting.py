"""The model's Markdown as Telegram HTML that is valid at every partial render.

Every render starts from the whole text received so far and produces a flat list of tokens in which
each opened tag is closed again: an unclosed code fence is closed at the end of the text, and an
inline marker (``**``, ``*``, ``_``, ``~~``, `````) becomes a tag only once its closing marker has
arrived (until then it shows as typed). So a half-streamed answer never yields "can't parse
entities".

Telegram's HTML dialect (core.telegram.org/bots/api#html-style) knows ``b i u s code pre a
blockquote``; only ``<``, ``>`` and ``&`` need escaping in text, and ``"`` in attributes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Text:
    """Visible text, unescaped."""

    text: str


@dataclass(frozen=True, slots=True)
class Open:
    """An opening tag; ``attrs`` is already escaped, e.g. `` href="https://x?a=1&amp;b=2"``."""

    tag: str
    attrs: str = ""

    def html(self) -> str:
        """The tag as HTML."""
        return f"<{self.tag}{self.attrs}>"


@dataclass(frozen=True, slots=True)
class Close:
    """A closing tag."""

    tag: str


Token = Text | Open | Close

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)")
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_QUOTE = re.compile(r"^ {0,3}>\s?(.*)$")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^()\s]+)\)")
_SAFE_SCHEMES = ("http://", "https://", "tg://", "mailto:")
_ESCAPABLE = frozenset("\\`*_{}[]()#+-.!~>|")
# Markers of paired inline styles, longest first so "**" wins over "*".
_PAIRED = (("**", "b"), ("__", "b"), ("~~", "s"), ("*", "i"), ("_", "i"))


def markdown_tokens(markdown: str) -> list[Token]:
    """Render Markdown (as LLMs write it) into balanced Telegram HTML tokens.

    Supported: fenced code blocks (with language), inline code, bold, italic, strikethrough, links,
    headings (bold), bullet lists (``•``), block quotes. Everything else is plain text. Line
    structure is preserved: the visible text keeps every newline of the source except fence lines.
    """
    tokens: list[Token] = []
    lines = markdown.split("\n")
    index = 0
    first = True
    while index < len(lines):
        line = lines[index]
        separator: list[Token] = [] if first else [Text("\n")]
        first = False
        fence = _FENCE.match(line)
        if fence is not None:
            index = _code_block(lines, index, fence, tokens, separator)
            continue
        if _QUOTE.match(line):
            index = _quote_block(lines, index, tokens, separator)
            continue
        tokens.extend(separator)
        tokens.extend(_line(line))
        index += 1
    return tokens


def _code_block(
    lines: list[str], start: int, fence: re.Match[str], out: list[Token], separator: list[Token]
) -> int:
    """Emit the fenced block opened at ``lines[start]``; returns the index after its closing fence.

    A fence still open at the end of the text (a partial render) is closed there.
    """
    marker, language = fence.group(1), fence.group(2)
    body: list[str] = []
    index = start + 1
    closed = False
    while index < len(lines):
        stripped = lines[index].strip()
        index += 1
        if stripped and set(stripped) == {marker[0]} and len(stripped) >= len(marker):
            closed = True
            break
        body.append(lines[index - 1])
    out.extend(separator)
    code_attrs = f' class="language-{html.escape(language, quote=True)}"' if language else ""
    out.extend((Open("pre"), Open("code", code_attrs)))
    if body:
        out.append(Text("\n".join(body)))
    out.extend((Close("code"), Close("pre")))
    return index if closed else len(lines)


def _quote_block(lines: list[str], start: int, out: list[Token], separator: list[Token]) -> int:
    """Emit consecutive ``>`` lines as one blockquote; returns the index after them."""
    out.extend(separator)
    out.append(Open("blockquote"))
    index = start
    while index < len(lines) and (match := _QUOTE.match(lines[index])) is not None:
        if index > start:
            out.append(Text("\n"))
        out.extend(_inline(match.group(1)))
        index += 1
    out.append(Close("blockquote"))
    return index


def _line(line: str) -> list[Token]:
    heading = _HEADING.match(line)
    if heading is not None:
        return [Open("b"), *_inline(heading.group(1)), Close("b")]
    bullet = _BULLET.match(line)
    if bullet is not None:
        return [Text(f"{bullet.group(1)}• "), *_inline(bullet.group(2))]
    return _inline(line)


def _inline(text: str, *, links: bool = True) -> list[Token]:
    """Inline Markdown of one line; a marker without its closing partner stays literal."""
    out: list[Token] = []
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            out.append(Text("".join(buffer)))
            buffer.clear()

    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in _ESCAPABLE:
            buffer.append(text[index + 1])
            index += 2
            continue
        if char == "`":
            end = text.find("`", index + 1)
            if end > index + 1:
                flush()
                out.extend((Open("code"), Text(text[index + 1 : end]), Close("code")))
                index = end + 1
                continue
        if links and char == "[" and (link := _LINK.match(text, index)) is not None:
            label, url = link.group(1), link.group(2)
            if url.startswith(_SAFE_SCHEMES):
                flush()
                out.append(Open("a", f' href="{html.escape(url, quote=True)}"'))
                out.extend(_inline(label, links=False))
                out.append(Close("a"))
                index = link.end()
                continue
        span = _paired_span(text, index)
        if span is not None:
            tag, inner_start, inner_end, after = span
            flush()
            out.append(Open(tag))
            out.extend(_inline(text[inner_start:inner_end], links=links))
            out.append(Close(tag))
            index = after
            continue
        buffer.append(char)
        index += 1
    flush()
    return out


def _paired_span(text: str, index: int) -> tuple[str, int, int, int] | None:
    """A styled span starting at ``index``: (tag, inner start, inner end, index after), or None."""
    for marker, tag in _PAIRED:
        if not text.startswith(marker, index):
            continue
        start = index + len(marker)
        end = _closing(text, marker, start)
        if end is None:
            return None
        return tag, start, end, end + len(marker)
    return None


def _closing(text: str, marker: str, start: int) -> int | None:
    """Where ``marker`` opened before ``start`` closes, following CommonMark's flanking idea.

    The content must not start or end with a space; ``_`` must sit at word boundaries (so
    ``snake_case_name`` stays as is); a single ``*`` must not be half of a ``**``.
    """
    if start >= len(text) or text[start].isspace():
        return None
    if marker[0] == "_" and start - len(marker) > 0 and text[start - len(marker) - 1].isalnum():
        return None
    search = start
    while (end := text.find(marker, search)) != -1:
        after = end + len(marker)
        valid = end > start and not text[end - 1].isspace()
        if marker == "*" and text.startswith("*", after):
            valid = False  # the start of a "**", not our closing marker
        if marker[0] == "_" and after < len(text) and text[after].isalnum():
            valid = False
        if valid:
            return end
        search = end + 1
    return None


def to_html(tokens: Iterable[Token]) -> str:
    """Serialize tokens to Telegram HTML."""
    parts: list[str] = []
    for token in tokens:
        match token:
            case Text(text):
                parts.append(escape(text))
            case Open():
                parts.append(token.html())
            case Close(tag):
                parts.append(f"</{tag}>")
    return "".join(parts)


def plain_text(tokens: Iterable[Token]) -> str:
    """What the user reads: the visible text without markup."""
    return "".join(token.text for token in tokens if isinstance(token, Text))


def escape(text: str) -> str:
    """Escape the three characters Telegram's HTML parser requires escaped in text."""
    return html.escape(text, quote=False)
