"""Splitting rendered HTML into messages of at most 4096 characters.

Telegram limits a message to 4096 characters *after entity parsing* (Bot API ``sendMessage``;
``telegram.constants.MessageLimit.MAX_TEXT_LENGTH``), i.e. of visible text, not of markup. Lengths are
counted in UTF-16 code units, the unit Telegram counts entities in, so an emoji never pushes a
message over the limit. Splits fall on a paragraph break, else a line break, else a space (hard
only when a window has none), never inside a tag or an entity because the split works on tokens;
tags open at a split are closed at the end of one message and reopened at the start of the next
(a code block continues as a code block).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from channels.telegram.formatting import Close, Open, Text, Token, escape

MAX_MESSAGE_LENGTH = 4096
_SEPARATORS = ("\n\n", "\n", " ")
_EMPTY_ELEMENT = re.compile(r"<(\w+)(?: [^>]*)?></\1>")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One message: its HTML and the same content as plain text (the parse-error fallback)."""

    html: str
    plain: str


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units (characters outside the BMP count twice)."""
    return len(text.encode("utf-16-le")) // 2


def split_tokens(tokens: Sequence[Token], limit: int = MAX_MESSAGE_LENGTH) -> list[Chunk]:
    """Split ``tokens`` into chunks whose visible text is at most ``limit`` UTF-16 units each.

    Whitespace-only pieces are dropped (Telegram refuses empty messages); an empty input gives one
    empty chunk, and the caller decides what to send instead.
    """
    visible = "".join(t.text for t in tokens if isinstance(t, Text))
    bounds = _bounds(visible, limit)
    pieces = _distribute(tokens, bounds)
    chunks = _serialize(pieces)
    kept = [c for c in chunks if c.plain.strip()]
    return kept or [Chunk("", "")]


def _bounds(visible: str, limit: int) -> list[int]:
    """End offsets (code points) of each chunk's visible text; the last is ``len(visible)``."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    # cumulative[i] = UTF-16 length of visible[:i]
    cumulative = [0, *itertools.accumulate(2 if ord(c) > 0xFFFF else 1 for c in visible)]
    bounds: list[int] = []
    start = 0
    while cumulative[-1] - cumulative[start] > limit:
        hard = bisect.bisect_right(cumulative, cumulative[start] + limit) - 1
        floor = bisect.bisect_left(cumulative, cumulative[start] + limit // 2)
        end = hard
        for separator in _SEPARATORS:
            found = visible.rfind(separator, floor, hard)
            if found != -1:
                end = found + len(separator)
                break
        end = max(end, start + 1)  # a limit smaller than one character still makes progress
        bounds.append(end)
        start = end
    bounds.append(len(visible))
    return bounds


def _distribute(tokens: Sequence[Token], bounds: list[int]) -> list[list[Token]]:
    """Assign tokens to chunks in order, cutting text at the bounds.

    A tag sitting exactly at a bound: a closing tag stays with the chunk before, an opening tag
    moves to the chunk after, so no chunk ends with an element that has no content.
    """
    pieces: list[list[Token]] = [[] for _ in bounds]
    current = 0
    position = 0
    last = len(bounds) - 1
    for token in tokens:
        if isinstance(token, Text):
            rest = token.text
            while rest:
                room = bounds[current] - position
                if room <= 0 and current < last:
                    current += 1
                    continue
                piece = rest if current == last else rest[:room]
                pieces[current].append(Text(piece))
                position += len(piece)
                rest = rest[len(piece) :]
        elif isinstance(token, Open):
            if position >= bounds[current] and current < last:
                current += 1
            pieces[current].append(token)
        else:
            pieces[current].append(token)
    return pieces


def _serialize(pieces: list[list[Token]]) -> list[Chunk]:
    """HTML per chunk, closing tags open at its end and reopening them in the next."""
    chunks: list[Chunk] = []
    stack: list[Open] = []
    for piece in pieces:
        html = [tag.html() for tag in stack]
        plain: list[str] = []
        for token in piece:
            if isinstance(token, Text):
                html.append(escape(token.text))
                plain.append(token.text)
            elif isinstance(token, Open):
                html.append(token.html())
                stack.append(token)
            elif isinstance(token, Close):
                html.append(f"</{token.tag}>")
                if not stack or stack[-1].tag != token.tag:
                    raise ValueError(f"unbalanced </{token.tag}>")
                stack.pop()
        html.extend(f"</{tag.tag}>" for tag in reversed(stack))
        chunks.append(Chunk(_drop_empty_elements("".join(html)), "".join(plain)))
    return chunks


def _drop_empty_elements(html: str) -> str:
    """Remove ``<b></b>``-style leftovers of reopened tags (nested ones too)."""
    while True:
        cleaned = _EMPTY_ELEMENT.sub("", html)
        if cleaned == html:
            return html
        html = cleaned
