"""Cutting long text into pieces that fit Slack's limits, at paragraph, line or word boundaries.

Limits (docs.slack.dev, PLATFORM_NOTES §1.1): ``markdown_text`` of one stream call ≤ 12,000
characters; a section block's text ≤ 3,000; a message's ``text`` is truncated at 40,000. One
message of an answer holds at most :data:`MESSAGE_LIMIT` characters; longer answers continue in the
thread.
"""

from __future__ import annotations

MESSAGE_LIMIT = 12_000
SECTION_LIMIT = 3_000
MIN_LIMIT = 64
_FENCE_CLOSE = "\n```"
_FENCE_OPEN = "```\n"


def cut_point(text: str, room: int) -> int:
    """Where to cut ``text`` so the first piece has at most ``room`` characters (≥ 1).

    Prefers the end of a paragraph, then of a line, then of a word in the second half of the room;
    cuts hard when there is none.
    """
    if len(text) <= room:
        return len(text)
    room = max(1, room)
    window = text[:room]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at >= room // 2:
            return at + len(separator)
    return room


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters; a code block cut in two is closed at
    the end of one piece and reopened at the start of the next, so each piece renders alone.

    Boundary whitespace (the newline a piece was cut at) is dropped: the break between two
    messages or blocks shows it.
    """
    pieces: list[str] = []
    rest = text
    # Each round consumes at least half the budget and re-adds at most a reopened fence, so the
    # loop ends for any budget well above the fence's length.
    limit = max(MIN_LIMIT, limit)
    budget = limit - len(_FENCE_CLOSE)
    while len(rest) > limit:
        cut = cut_point(rest, budget)
        piece, rest = rest[:cut].rstrip("\n "), rest[cut:].lstrip("\n")
        if _open_fence(piece):
            piece += _FENCE_CLOSE
            rest = _FENCE_OPEN + rest
        if piece.strip():
            pieces.append(piece)
    if rest.strip() or not pieces:
        pieces.append(rest)
    return pieces


def _open_fence(text: str) -> bool:
    """Whether a code block opened in ``text`` is still open at its end."""
    inside = False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            inside = not inside
    return inside
