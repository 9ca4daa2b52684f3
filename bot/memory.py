"""Long-term memory jobs: extraction of durable facts from conversations, and forgetting a person.

Extraction runs in the pruning job (``bot/jobs.py``): a conversation that has gone quiet (no turn
for ``memory.extraction.idle``, by then its session has usually left memory too) or that piled up
``every_turns`` new turns is read by the fast tier, one person at a time, and the facts about that
person are stored in their ``user`` scope, skipping those that repeat a stored memory. How far each
session was read is stored, so every turn is read once, also across restarts.

Each pass first gives a vector to memories stored without one (an embeddings outage, a new model).

``hearth forget-user`` removes a person's memories (in every scope they caused), the vectors of
those texts, and their turns with the messages and delivered replies of those turns; conversations
left empty go too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from agent.clock import Clock
from agent.errors import ProviderError
from agent.memory import EmbeddingError, HybridMemories, NewMemory, Owner
from agent.memory.extraction import (
    EXTRACTION_INSTRUCTIONS,
    Exchange,
    extraction_request,
    parse_facts,
)
from agent.messages import ChatMessage, TextBlock
from agent.request import TextDelta
from agent.responder import Agent, TurnInput, UnknownModelError
from agent.tools.context import ToolContext
from bot.store.memories import drop_orphan_embeddings
from bot.store.sqlite import SqliteStore
from channels.base import SessionKey
from config import Profile, Settings

log = logging.getLogger(__name__)

KNOWN_FACTS = 20  # stored facts shown to the extracting model, so it does not repeat them
MAX_CONVERSATION_CHARS = 12_000  # the newest part of a long conversation is what is read


@dataclass
class _Reading:
    """One person's new turns in one session."""

    user_id: str
    user_name: str
    exchanges: list[Exchange] = field(default_factory=list)
    last_turn: str = ""


@dataclass(frozen=True, slots=True)
class DueSession:
    """A session with turns that extraction has not read yet."""

    id: str
    key: SessionKey
    last_ordinal: int


class MemoryExtractor:
    """Reads conversations that are due and stores the facts found in them.

    Args:
        memories: Where facts go (deduplicated against what is there).
        store: The SQLite store (turns, messages, and how far each session was read).
        agent: Runs the extracting model (fallback and retries as for any turn).
        settings: ``memory.extraction`` and the tiers.
        clock: The wall clock.
    """

    def __init__(
        self,
        memories: HybridMemories,
        store: SqliteStore,
        agent: Agent,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._memories = memories
        self._store = store
        self._agent = agent
        self._settings = settings
        self._clock = clock

    async def run(self) -> int:
        """One pass: vectors for memories stored without one (an embeddings outage, a new model),
        then the due sessions; returns how many facts were stored.

        A model failure ends the pass (the model is likely down); those sessions stay due.
        """
        try:
            await self._memories.backfill()
        except EmbeddingError as exc:
            log.warning("memory vectors not backfilled this time: %s", exc)
        extraction = self._settings.memory.extraction
        if not extraction.enabled:
            return 0
        stored = 0
        for due in await self._due(self._clock.now() - extraction.idle):
            try:
                stored += await self._extract(due)
            except (ProviderError, UnknownModelError) as exc:
                log.warning("memory extraction stopped at session %s: %s", due.key, exc)
                break
        return stored

    async def _extract(self, due: DueSession) -> int:
        readings, last = await self._read(due)
        stored = 0
        for reading in readings.values():
            if reading.exchanges:
                stored += await self._extract_person(due, reading)
        await self._mark(due.id, last)
        if stored:
            log.info("memory extraction: %d facts from session %s", stored, due.key)
        return stored

    async def _extract_person(self, due: DueSession, reading: _Reading) -> int:
        key = due.key
        owner = ToolContext(str(key), due.id, key.platform, key.scope, key.chat, reading.user_id)
        owners: list[Owner] = [("user", owner.user_owner)]
        known, _total = await self._memories.listing(owners, KNOWN_FACTS)
        request = extraction_request(
            reading.exchanges, [m.content for m in known], reading.user_name or reading.user_id
        )
        answer = await self._complete(request, due)
        stored = 0
        for fact in parse_facts(answer, self._settings.memory.extraction.max_facts):
            if await self._memories.duplicate_of(owners, fact) is not None:
                continue
            await self._memories.add(
                NewMemory(
                    scope="user",
                    owner=owner.user_owner,
                    content=fact,
                    source_session=due.id,
                    created_at=self._clock.now(),
                    source_turn=reading.last_turn,
                    author=owner.user_owner,
                )
            )
            stored += 1
        return stored

    async def _complete(self, request: str, due: DueSession) -> str:
        key = due.key
        _name, profile = self._settings.profile_for(key.platform, key.scope, key.chat, None)
        tier = self._settings.memory.extraction.tier
        if tier not in self._settings.models.tiers:
            tier = profile.tier
        turn = TurnInput(
            conversation_id=f"memory:{due.id}",
            transcript=(),
            user_message=ChatMessage.user_text(request),
            profile=Profile(instructions=EXTRACTION_INSTRUCTIONS, tier=tier, tools=[]),
        )
        text = [
            event.text async for event in self._agent.respond(turn) if isinstance(event, TextDelta)
        ]
        return "".join(text)

    async def _due(self, idle_before: datetime) -> list[DueSession]:
        extraction = self._settings.memory.extraction
        async with self._store.db.execute(
            "SELECT t.session_id, s.key, MAX(t.ordinal), COUNT(*), MAX(t.created_at)"
            " FROM turns t JOIN sessions s ON s.id = t.session_id"
            " LEFT JOIN memory_extraction x ON x.session_id = t.session_id"
            " WHERE t.status = 'ok' AND t.ordinal > COALESCE(x.last_ordinal, 0)"
            " GROUP BY t.session_id HAVING MAX(t.created_at) < ? OR COUNT(*) >= ?"
            " ORDER BY MAX(t.created_at) LIMIT ?",
            (idle_before.isoformat(), extraction.every_turns, extraction.max_sessions),
        ) as cursor:
            rows = await cursor.fetchall()
        due: list[DueSession] = []
        for row in rows:
            try:
                key = SessionKey.parse(str(row[1]))
            except ValueError:
                continue  # not a conversation of a channel (nothing to attribute facts to)
            due.append(DueSession(str(row[0]), key, int(row[2])))
        return due

    async def _read(self, due: DueSession) -> tuple[dict[str, _Reading], int]:
        async with self._store.db.execute(
            "SELECT t.id, t.ordinal, t.user_id, t.user_name, m.content"
            " FROM turns t JOIN messages m ON m.turn_id = t.id"
            " LEFT JOIN memory_extraction x ON x.session_id = t.session_id"
            " WHERE t.session_id = ? AND t.status = 'ok' AND t.ordinal > COALESCE(x.last_ordinal, 0)"
            " ORDER BY t.ordinal, m.seq",
            (due.id,),
        ) as cursor:
            rows = await cursor.fetchall()
        readings: dict[str, _Reading] = {}
        last = due.last_ordinal
        for turn_id, ordinal, user_id, user_name, content in rows:
            last = max(last, int(ordinal))
            if not user_id:
                continue  # nobody to attribute facts to
            reading = readings.setdefault(str(user_id), _Reading(str(user_id), str(user_name)))
            reading.last_turn = str(turn_id)
            exchange = _exchange(ChatMessage.from_json(str(content)))
            if exchange is not None:
                reading.exchanges.append(exchange)
        for reading in readings.values():
            reading.exchanges = _newest(reading.exchanges, MAX_CONVERSATION_CHARS)
        return readings, last

    async def _mark(self, session_id: str, last_ordinal: int) -> None:
        async with self._store.transaction() as db:
            await db.execute(
                "INSERT INTO memory_extraction (session_id, last_ordinal, extracted_at)"
                " VALUES (?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET"
                " last_ordinal = MAX(last_ordinal, excluded.last_ordinal),"
                " extracted_at = excluded.extracted_at",
                (session_id, last_ordinal, self._clock.now().isoformat()),
            )


def _exchange(message: ChatMessage) -> Exchange | None:
    """What was said in a stored message: the person's own words (the first text block: the
    volatile context, recalled memories included, follows in a block of its own) or the answer."""
    texts = [b.text for b in message.blocks if isinstance(b, TextBlock)]
    if not texts:
        return None  # tool results
    if message.role == "user":
        return Exchange("user", texts[0])
    return Exchange("assistant", "".join(texts))


def _newest(exchanges: Sequence[Exchange], max_chars: int) -> list[Exchange]:
    kept: list[Exchange] = []
    used = 0
    for exchange in reversed(exchanges):
        used += len(exchange.text)
        if used > max_chars and kept:
            break
        kept.append(exchange)
    return kept[::-1]


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What ``hearth forget-user`` deleted."""

    memories: int = 0
    turns: int = 0
    messages: int = 0
    sessions: int = 0


def _is_person(owner: str, platform: str, user_id: str) -> bool:
    parts = owner.split(":")
    return len(parts) == 3 and parts[0] == platform and parts[2] == user_id


async def forget_user(store: SqliteStore, platform: str, user_id: str) -> Forgotten:
    """Delete one person's memories (every workspace of ``platform``; every scope they caused),
    the cached vectors of those texts, and their turns with those turns' messages; sessions left
    without messages go too. One transaction."""
    async with store.transaction() as db:
        async with db.execute(
            "SELECT id, scope, owner, author, content_hash FROM memories"
            " WHERE (scope = 'user' AND owner LIKE ?) OR author LIKE ?",
            (f"{platform}:%", f"{platform}:%"),
        ) as cursor:
            rows = await cursor.fetchall()
        doomed = [
            (int(r[0]), str(r[4]))
            for r in rows
            if (r[1] == "user" and _is_person(str(r[2]), platform, user_id))
            or _is_person(str(r[3]), platform, user_id)
        ]
        for memory_id, _hash in doomed:
            await db.execute("DELETE FROM memories WHERE id = ?", (memory_id,))
        await drop_orphan_embeddings(db, [h for _, h in doomed])
        async with db.execute(
            "SELECT id, session_id FROM turns WHERE platform = ? AND user_id = ?",
            (platform, user_id),
        ) as cursor:
            turns = [(str(r[0]), str(r[1])) for r in await cursor.fetchall()]
        messages = 0
        for turn_id, _session in turns:
            deleted = await db.execute("DELETE FROM messages WHERE turn_id = ?", (turn_id,))
            messages += deleted.rowcount
            await db.execute("DELETE FROM turns WHERE id = ?", (turn_id,))
            # The delivery ledger keeps the text of each reply (bot/store/ledger.py).
            await db.execute("DELETE FROM deliveries WHERE turn_id = ?", (turn_id,))
        sessions = 0
        for session_id in dict.fromkeys(s for _, s in turns):
            deleted = await db.execute(
                "DELETE FROM sessions WHERE id = ? AND NOT EXISTS"
                " (SELECT 1 FROM messages WHERE session_id = ?)",
                (session_id, session_id),
            )
            sessions += deleted.rowcount
    return Forgotten(len(doomed), len(turns), messages, sessions)
