"""``remember`` / ``recall`` / ``forget``: long-term facts per user, chat or workspace.

The tools depend on :class:`MemoryStore`, implemented by :class:`agent.memory.HybridMemories`
(keywords and meaning, ranked together) over ``bot/store/memories.py`` (SQLite + FTS5, which alone
also implements it, keyword-only). Every read and write is confined to the owners derived from the
call's :class:`ToolContext`, so a person's memories never reach another person, chat or workspace:
a user's own facts are keyed by (platform, workspace, user); ``chat`` facts by (platform,
workspace, chat); ``workspace`` facts are shared by everyone there; ``global`` facts (written by
operators, not by the model) by everyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Protocol

from pydantic import Field

from agent.clock import Clock
from agent.errors import ToolError
from agent.memory.records import Memory, MemoryScope, NewMemory, Owner, WritableScope
from agent.tools.context import ToolContext
from agent.tools.registry import Tool
from agent.tools.schema import function_tool

__all__ = [
    "MAX_CONTENT",
    "Memory",
    "MemoryScope",
    "MemoryStore",
    "NewMemory",
    "Owner",
    "WritableScope",
    "memory_tools",
    "readable_owners",
    "writable_owners",
]

MAX_CONTENT = 2000


class MemoryStore(Protocol):
    """Persistence and search of memories."""

    async def add(self, memory: NewMemory) -> int:
        """Store ``memory`` (the same content for the same owner is stored once); its id."""
        ...

    async def search(
        self, owners: Sequence[Owner], query: str, limit: int, now: datetime
    ) -> list[Memory]:
        """Best matches of ``query`` among ``owners``' memories (most recent when it is empty).

        Marks the returned memories as used at ``now``.
        """
        ...

    async def delete(self, memory_id: int, owners: Sequence[Owner]) -> bool:
        """Delete a memory if it belongs to one of ``owners``; whether it did."""
        ...


def readable_owners(context: ToolContext) -> list[Owner]:
    """Whose memories a call may read: the person's, the chat's, the workspace's, global."""
    return [
        ("user", context.user_owner),
        ("chat", context.chat_owner),
        ("workspace", context.workspace_owner),
        ("global", ""),
    ]


def writable_owners(context: ToolContext) -> list[Owner]:
    """Whose memories a call may change (global ones are for operators)."""
    return readable_owners(context)[:3]


def _owner_of(scope: WritableScope, context: ToolContext) -> str:
    return dict(writable_owners(context))[scope]


def _require_conversation(context: ToolContext) -> None:
    if not context.session_key:
        raise ToolError("memory is only available inside a conversation")


def memory_tools(store: MemoryStore, clock: Clock) -> list[Tool[Any]]:
    """The ``remember``, ``recall`` and ``forget`` tools over ``store``."""

    async def remember(
        content: Annotated[str, Field(min_length=1, max_length=MAX_CONTENT)],
        context: ToolContext,
        scope: WritableScope = "user",
        importance: Annotated[float, Field(ge=0, le=1)] = 0.5,
    ) -> str:
        """Save a fact for later conversations (a preference, a name, a decision).

        Args:
            content: The fact, written so it makes sense on its own later.
            scope: user (about the person writing, default), chat (about this conversation) or
                workspace (shared with everyone in this workspace or server).
            importance: 0 to 1; important facts rank higher when recalled.
        """
        _require_conversation(context)
        memory_id = await store.add(
            NewMemory(
                scope=scope,
                owner=_owner_of(scope, context),
                content=content.strip(),
                source_session=context.session_id,
                created_at=clock.now(),
                importance=importance,
                source_turn=context.turn_id or None,  # NULL, not "", when called outside a turn
                author=context.user_owner,
            )
        )
        return f"Remembered as #{memory_id} ({scope} scope)."

    async def recall(
        context: ToolContext,
        query: str = "",
        limit: Annotated[int, Field(ge=1, le=20)] = 5,
    ) -> str:
        """Search saved facts by keywords and meaning; an empty query lists the most recent ones.

        Args:
            query: What to look for (keywords or a question).
            limit: How many memories to return at most.
        """
        _require_conversation(context)
        found = await store.search(readable_owners(context), query, limit, clock.now())
        if not found:
            return "No saved memories match." if query else "No saved memories yet."
        return "\n".join(f"#{m.id} [{m.scope}, {m.created_at:%Y-%m-%d}] {m.content}" for m in found)

    async def forget(memory_id: int, context: ToolContext) -> str:
        """Delete a saved fact by its number (as shown by recall).

        Args:
            memory_id: The number of the memory, without the #.
        """
        _require_conversation(context)
        if not await store.delete(memory_id, writable_owners(context)):
            raise ToolError(f"there is no memory #{memory_id} that this conversation may delete")
        return f"Forgot #{memory_id}."

    return [function_tool(remember), function_tool(recall), function_tool(forget)]
