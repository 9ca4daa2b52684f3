"""Splitting an answer into Discord messages of at most 2,000 characters.

Discord rejects message content longer than 2,000 characters (PLATFORM_NOTES §1.3), so a long
answer continues in further messages. Cuts fall at paragraph breaks, then line breaks, then spaces;
a cut inside a fenced code block closes the fence at the end of one message and reopens it (with
its language) at the start of the next, so every message renders on its own.

The split is *prefix-stable*: appending text to an answer never changes any chunk but the last one.
That is what lets a streamed reply settle a full message, leave it alone and go on in the next.
"""

from __future__ import annotations

from dataclasses import dataclass

MESSAGE_LIMIT = 2000
"""Discord's maximum message content length, in characters."""

FENCE = "```"
_CLOSE = "\n" + FENCE
# Room kept free in every chunk for a closing fence, whether or not the cut lands in a code block:
# deciding the room by the fence state would make the split depend on text after the cut.
_RESERVE = len(_CLOSE)


@dataclass(frozen=True, slots=True)
class _Cut:
    """Where a chunk ends (``end``) and where the rest resumes (``resume``, after the break)."""

    end: int
    resume: int


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters, each with balanced code fences.

    Args:
        text: The whole answer so far (Markdown).
        limit: Maximum characters per chunk; must leave room for a reopened fence line.

    Returns:
        The chunks, in order; empty when ``text`` has no visible characters.
    """
    chunks: list[str] = []
    rest = text
    reopen = ""  # the fence line that the previous chunk closed, reopened at the next chunk's start
    while rest.strip():
        head = f"{reopen}\n" if reopen else ""
        budget = limit - _RESERVE - len(head)
        if len(rest) <= budget:
            chunks.append(close_open_fence(head + rest))
            break
        cut = _find_cut(rest, budget, reopen)
        chunks.append(close_open_fence(head + rest[: cut.end]))
        reopen = open_fence(rest[: cut.end], reopen)
        if len(reopen) > limit // 8:
            reopen = FENCE  # an absurdly long info string: reopen the block without it
        rest = rest[cut.resume :].lstrip("\n")
    return chunks


def close_open_fence(text: str) -> str:
    """``text`` with a closing fence appended when it ends inside a code block."""
    return text + _CLOSE if open_fence(text) else text


def open_fence(text: str, inside: str = "") -> str:
    """The opening fence line (e.g. ``"```python"``) of the code block ``text`` ends in, or ``""``.

    Args:
        text: Markdown to scan, line by line.
        inside: The fence line already open before ``text`` starts.
    """
    fence = inside
    for line in text.split("\n"):
        marker = line.strip()
        if marker.startswith(FENCE):
            fence = "" if fence else marker
    return fence


def _find_cut(rest: str, budget: int, reopen: str) -> _Cut:
    """The best cut within ``rest[:budget]``: a paragraph break outside code, a line break outside
    code, any line break, a space, or (for one very long word) the budget itself.

    Only breaks in the second half of the window count, so chunks are not needlessly short.
    """
    window = rest[:budget]
    floor = budget // 2
    for separator, outside_code in (("\n\n", True), ("\n", True), ("\n", False)):
        position = _last_break(window, separator, floor, reopen, outside_code=outside_code)
        if position is not None:
            return _Cut(position, position + len(separator))
    space = window.rfind(" ", floor)
    if space > 0:
        return _Cut(space, space + 1)
    return _Cut(budget, budget)


def _last_break(
    window: str, separator: str, floor: int, reopen: str, *, outside_code: bool
) -> int | None:
    position = window.rfind(separator, floor)
    while position >= floor:
        if position > 0 and not (outside_code and open_fence(window[:position], reopen)):
            return position
        position = window.rfind(separator, floor, position)
    return None
