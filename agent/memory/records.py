"""Memory values shared by the store, the ranking, the tools and the runtime.

A memory is a fact with an owner: ``(scope, owner key)``. The owner keys come from the conversation
(:class:`agent.tools.context.ToolContext`), so a person's facts are keyed by platform, workspace and
user, a chat's by platform, workspace and chat, a workspace's by platform and workspace; ``global``
facts (written by operators) have the empty key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray

MemoryScope = Literal["user", "chat", "workspace", "global"]
WritableScope = Literal["user", "chat", "workspace"]
SCOPES: dict[str, MemoryScope] = {
    "user": "user",
    "chat": "chat",
    "workspace": "workspace",
    "global": "global",
}

Owner = tuple[MemoryScope, str]
"""(scope, owner key): the unit a memory belongs to."""

Vector = NDArray[np.float32]
"""An embedding, scaled to unit length by whoever stores or searches it."""


@dataclass(frozen=True, slots=True)
class Memory:
    """A stored fact as recalled."""

    id: int
    scope: MemoryScope
    content: str
    created_at: datetime
    importance: float
    last_used_at: datetime | None = None

    @property
    def touched_at(self) -> datetime:
        """When it was last used, or created: the age the recency factor counts from."""
        return self.last_used_at or self.created_at


@dataclass(frozen=True, slots=True)
class NewMemory:
    """A fact to store, with where it came from.

    Attributes:
        scope: Whose fact it is.
        owner: The owner key within the scope.
        content: The fact, meaningful on its own.
        source_session: The session it was learnt in.
        created_at: When.
        importance: 0 to 1; important facts rank higher.
        source_turn: The turn it was learnt in, when known.
        author: Owner key of the person whose conversation produced it (``hearth forget-user``
            removes a person's facts in every scope by this).
    """

    scope: MemoryScope
    owner: str
    content: str
    source_session: str
    created_at: datetime
    importance: float = 0.5
    source_turn: str | None = None
    author: str = ""


def content_hash(text: str) -> str:
    """The embedding cache key of ``text`` (SHA-256, hex)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def unit(vector: Vector) -> Vector:
    """``vector`` scaled to length 1 (a zero vector stays zero), as float32."""
    as_float = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(as_float))
    return as_float if norm == 0.0 else (as_float / norm).astype(np.float32)


def to_blob(vector: Vector) -> bytes:
    """Little-endian float32 bytes (the format sqlite-vec reads too)."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> Vector:
    """Inverse of :func:`to_blob`."""
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)
