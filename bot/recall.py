"""Long-term memory in the conversation: recall before each turn, and ``/memory`` / ``/forget``.

Before a turn, the memories that best match the incoming message among those the conversation may
read (the person's, the chat's, the workspace's, global ones) are put into the volatile part of the
prompt, within the token budget, as untrusted data (``agent/prompt.py``). A failing store or
embeddings endpoint costs the turn its memories, never its answer.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from agent.clock import Clock
from agent.memory import HybridMemories, Memory, Owner
from agent.tools.context import ToolContext
from agent.tools.memory import readable_owners, writable_owners
from bot.pipeline import Next
from channels.base import InboundMessage

log = logging.getLogger(__name__)

LISTED = 20
AHEAD_KEPT = 1024
"""Recalls started ahead of their turns kept at most (a message refused or dropped after its
recall started never collects it; the oldest such is let go)."""
FORGET_USAGE = (
    "/forget <number> deletes one memory (the numbers are in /memory); "
    "/forget all deletes everything I remember about you here."
)


def prompt_line(memory: Memory) -> str:
    """How a recalled memory reads in the prompt: its number (for the ``forget`` tool), scope and
    text."""
    return f"#{memory.id} ({memory.scope}) {memory.content}"


def context_of(message: InboundMessage) -> ToolContext:
    """The owners' view of a message outside a turn (commands): who wrote it, where."""
    key = message.key
    return ToolContext(str(key), "", key.platform, key.scope, key.chat, message.author.id)


class Recall:
    """Memories for the prompt and the memory commands.

    Args:
        memories: The hybrid memory search.
        clock: The wall clock (ages, last-used times).
    """

    def __init__(self, memories: HybridMemories, clock: Clock) -> None:
        self._memories = memories
        self._clock = clock
        # Recalls started ahead, with when (``time.monotonic()``) they started.
        self._ahead: OrderedDict[tuple[str, str], tuple[float, asyncio.Task[list[str]]]] = (
            OrderedDict()
        )

    @property
    def memories(self) -> HybridMemories:
        """The memory search behind it (also the tools' store)."""
        return self._memories

    async def for_turn(self, context: ToolContext, text: str) -> list[str]:
        """Prompt lines of the memories recalled for ``text``, best first (none when recall is
        off or failed)."""
        if not self._memories.settings.recall:
            return []
        try:
            found = await self._memories.recall(readable_owners(context), text, self._clock.now())
        except sqlite3.Error:
            log.exception(
                "memory recall failed, session %s; answering without", context.session_key
            )
            return []
        return [prompt_line(memory) for memory in found]

    def start_ahead(self, message: InboundMessage) -> None:
        """Start recalling for ``message`` now, for a turn that will answer it alone
        (:meth:`for_messages` collects it)."""
        if not self._memories.settings.recall:
            return
        task = asyncio.create_task(
            self.for_turn(context_of(message), message.text), name=f"recall {message.key}"
        )
        task.add_done_callback(_retrieved)
        self._ahead[_ahead_key(message)] = (time.monotonic(), task)
        if len(self._ahead) > AHEAD_KEPT:
            _key, (_started, oldest) = self._ahead.popitem(last=False)
            oldest.cancel()

    async def for_messages(
        self,
        batch: Sequence[InboundMessage],
        context: ToolContext,
        text: str,
        *,
        not_before: float = 0.0,
    ) -> list[str]:
        """:meth:`for_turn` for a turn answering ``batch`` with ``text``: the recall started
        ahead for it, when it is one message and that recall started at ``not_before``
        (``time.monotonic()``: the end of the session's last turn, which may have saved a
        memory) or later; else a new one."""
        entries = [self._ahead.pop(_ahead_key(m), None) for m in batch]
        if len(batch) == 1 and entries[0] is not None and entries[0][0] >= not_before:
            return await entries[0][1]
        for entry in entries:
            if entry is not None:
                entry[1].cancel()
        return await self.for_turn(context, text)

    async def aclose(self) -> None:
        """Stop the recalls started ahead that no turn collected (before the store closes)."""
        tasks = [task for _started, task in self._ahead.values()]
        self._ahead.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def listing(self, message: InboundMessage) -> str:
        """``/memory``: what the bot remembers about the writer in this workspace."""
        owner: Owner = ("user", context_of(message).user_owner)
        memories, total = await self._memories.listing([owner], LISTED)
        if not memories:
            return "I don't remember anything about you here yet."
        lines = [f"What I remember about you here ({total}):"]
        lines += [f"#{m.id} {m.content}" for m in memories]
        if total > len(memories):
            lines.append(f"… and {total - len(memories)} more.")
        lines.append(FORGET_USAGE)
        return "\n".join(lines)

    async def forget(self, argument: str, message: InboundMessage) -> str:
        """``/forget <number>`` or ``/forget all``."""
        context = context_of(message)
        choice = argument.strip().removeprefix("#")
        if choice.lower() == "all":
            count = await self._memories.delete_all([("user", context.user_owner)])
            noun = "memory" if count == 1 else "memories"
            return f"Forgot {count} {noun} about you here."
        if not choice.isdigit():
            return FORGET_USAGE
        if await self._memories.delete(int(choice), writable_owners(context)):
            return f"Forgot #{choice}."
        return f"There is no memory #{choice} that you may delete here."


class RecallAhead:
    """Middleware: start the memory recall of a message that will start its turn at once, so
    that the query runs while the rest of the intake (the inbox insert) does.

    A message for a busy lane waits for the turn before it, which may save a memory it should
    see; commands recall nothing. ``starts_at_once`` tells those apart.
    """

    def __init__(self, recall: Recall, starts_at_once: Callable[[InboundMessage], bool]) -> None:
        self._recall = recall
        self._starts_at_once = starts_at_once

    async def __call__(self, message: InboundMessage, call_next: Next) -> None:
        """Start the recall if the message starts a turn at once, then pass it on."""
        if self._starts_at_once(message):
            self._recall.start_ahead(message)
        await call_next(message)


def _ahead_key(message: InboundMessage) -> tuple[str, str]:
    return str(message.key), message.message_id


def _retrieved(task: asyncio.Task[list[str]]) -> None:
    """Collect the outcome of a recall started ahead that its turn may never await."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("memory recall ahead of a turn failed: %r", exc)
