"""Where a tool call comes from: the conversation and the person, without naming a platform type.

The runtime builds one :class:`ToolContext` per turn (``bot/turns.py``) and the executor hands it to
every tool that asks for it. Tools that keep state per person or per conversation (memories,
reminders) key it by these strings; the agent never parses them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ToolContext:
    """The origin of a tool call.

    Attributes:
        session_key: The conversation's session key as a string (opaque to the agent; the runtime
            delivers reminders back into it).
        session_id: The stored session's id (the source recorded with a memory).
        platform: ``telegram``, ``discord``, ``slack``, ``console``.
        workspace: The workspace / guild / bot scope of the conversation.
        chat: The chat or channel id.
        user_id: The platform id of the person who wrote the message.
        turn_id: The id of the turn being answered (the source recorded with a memory); empty
            outside a turn (memory extraction, ``/memory``, tests).
    """

    session_key: str
    session_id: str
    platform: str
    workspace: str
    chat: str
    user_id: str
    turn_id: str = ""

    @property
    def user_owner(self) -> str:
        """Owner key of this person's own memories (user ids are only unique per workspace)."""
        return f"{self.platform}:{self.workspace}:{self.user_id}"

    @property
    def chat_owner(self) -> str:
        """Owner key of facts about this chat."""
        return f"{self.platform}:{self.workspace}:{self.chat}"

    @property
    def workspace_owner(self) -> str:
        """Owner key of facts shared by the whole workspace."""
        return f"{self.platform}:{self.workspace}"


NO_CONTEXT = ToolContext("", "", "", "", "", "")
"""The context of calls made outside any conversation (tests, summaries); stateful tools refuse it."""
