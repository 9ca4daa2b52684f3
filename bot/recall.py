"""Long-term memory in the conversation: recall before each turn, and ``/memory`` / ``/forget``.

Before a turn, the memories that best match the incoming message among those the conversation may
read (the person's, the chat's, the workspace's, global ones) are put into the volatile part of the
prompt, within the token budget, as untrusted data (``agent/prompt.py``). A failing store or
embeddings endpoint costs the turn its memories, never its answer.
"""

from __future__ import annotations

import logging
import sqlite3

from agent.clock import Clock
from agent.memory import HybridMemories, Memory, Owner
from agent.tools.context import ToolContext
from agent.tools.memory import readable_owners, writable_owners
from channels.base import InboundMessage

log = logging.getLogger(__name__)

LISTED = 20
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
