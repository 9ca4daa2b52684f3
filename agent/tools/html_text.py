"""HTML reduced to readable text for the model (stdlib :mod:`html.parser`, no rendering)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe", "object"})
# Paragraph-like elements are set apart by a blank line; these only start a new line.
_LINES = frozenset({"br", "dd", "dt", "li", "tr"})
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "div", "dl", "figcaption", "figure",
        "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol",
        "p", "pre", "section", "table", "ul",
    }
)  # fmt: skip
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "wbr"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skipping: list[str] = []
        self._in_title = False
        self._in_pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _SKIPPED and tag not in _VOID:
            self._skipping.append(tag)
            return
        if self._skipping:
            return
        if tag == "pre":
            self._in_pre += 1
        if tag in _BLOCKS:
            self.parts.append("\n\n")
        elif tag in _LINES:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.parts.append("#" * int(tag[1]) + " ")
        elif tag in ("td", "th"):
            self.parts.append("| ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if self._skipping:
            if tag == self._skipping[-1]:
                self._skipping.pop()
            return
        if tag in ("td", "th"):
            self.parts.append(" ")
        if tag == "pre" and self._in_pre:
            self._in_pre -= 1
        if tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
            return
        if self._skipping:
            return
        if self._in_pre:
            self.parts.append(data)
        else:
            self.parts.append(_SPACES.sub(" ", data.replace("\n", " ")))


def html_to_text(html: str) -> tuple[str, str]:
    """The page's title and its visible text (scripts, styles and the head left out).

    Paragraph-like elements are separated by a blank line, list items and table rows start a line
    (``- item``, ``| cell | cell``), headings get ``#``; spaces are collapsed and every line is
    stripped (also in ``<pre>``).
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).split("\n"))
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    title = _SPACES.sub(" ", " ".join(parser.title)).strip()
    return title, text
