"""Compaction (DESIGN.md §5): older turns folded into a summary in the stable prompt block.

It runs after a turn was delivered, so it never delays the reply it follows. It rewrites the cached
prefix once; the turns after it are append-only again.
"""

from __future__ import annotations

import logging

from agent.messages import ChatMessage, TextBlock
from agent.responder import Agent
from bot.sessions import Session
from bot.store.base import Store
from config import CompactionSettings, ModelRef, ModelsSettings

log = logging.getLogger(__name__)


def turn_starts(transcript: tuple[ChatMessage, ...]) -> list[int]:
    """Indices of the messages that open a turn (user text, not tool results)."""
    return [
        i
        for i, m in enumerate(transcript)
        if m.role == "user" and any(isinstance(b, TextBlock) for b in m.blocks)
    ]


class Compactor:
    """Decides when a session is compacted and does it."""

    def __init__(
        self, agent: Agent, store: Store, models: ModelsSettings, settings: CompactionSettings
    ) -> None:
        self._agent = agent
        self._store = store
        self._models = models
        self._settings = settings

    def due(self, model: str, prompt_tokens: int) -> bool:
        """Whether the last prompt (``prompt_tokens`` sent to ``model``) passed the threshold."""
        if not model or not prompt_tokens:
            return False
        window = self._models.model(ModelRef.parse(model)).context_window
        return prompt_tokens >= self._settings.threshold * window

    async def compact(self, session: Session, fallback_tier: str) -> bool:
        """Summarise all but the last ``keep_last`` turns; False when there was nothing to fold."""
        starts = turn_starts(session.transcript)
        if len(starts) <= self._settings.keep_last:
            return False
        cut = starts[-self._settings.keep_last]
        tier = self._settings.tier if self._settings.tier in self._models.tiers else fallback_tier
        summary = await self._agent.summarize(
            session.transcript[:cut], session.summary, tier, session.id
        )
        kept = session.transcript[cut:]
        await self._store.compact_session(session.id, summary, len(kept))
        session.summary = summary
        session.transcript = kept
        log.info("compacted session %s: %d messages folded into the summary", session.key, cut)
        return True
