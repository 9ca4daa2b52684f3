"""Chat commands, the same on every channel: ``/new``, ``/model``, ``/stats``, ``/help``."""

from __future__ import annotations

from dataclasses import dataclass

from agent.errors import ProviderError
from agent.responder import Agent, UnknownModelError
from bot.compaction import Compactor
from bot.sessions import SessionPool
from bot.stats import summarize
from bot.store.base import Store
from bot.timeline import seconds
from channels.base import InboundMessage
from config import Settings

HELP = """Commands:
/new: start a fresh conversation in this thread
/model: show the model; /model <tier or provider:model> switches this thread
/stats: time-to-first-token, cache and cost figures for this thread
/compact: fold older turns into a summary now
/help: this list"""

COMMANDS = frozenset({"new", "model", "stats", "compact", "help"})


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command: ``/model fast`` → ``Command("model", "fast")``."""

    name: str
    argument: str


def parse_command(text: str) -> Command | None:
    """The command in ``text``, or None. ``/model@HearthBot fast`` (Telegram) is accepted."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return None
    head, _, rest = stripped[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    if name not in COMMANDS:
        return None
    return Command(name, rest.strip())


def is_command(message: InboundMessage) -> bool:
    """Whether ``message`` is a command (commands are never merged into a turn)."""
    return parse_command(message.text) is not None


class CommandHandler:
    """Answers commands; each answer is one short message."""

    def __init__(
        self,
        *,
        settings: Settings,
        pool: SessionPool,
        store: Store,
        agent: Agent,
        compactor: Compactor,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._store = store
        self._agent = agent
        self._compactor = compactor

    async def handle(self, command: Command, message: InboundMessage) -> str:
        """Run ``command`` for ``message``'s session and return the answer text."""
        if command.name == "new":
            await self._pool.reset(message.key)
            return "Started a new conversation."
        if command.name == "model":
            return await self._model(command.argument, message)
        if command.name == "stats":
            return await self._stats(message)
        if command.name == "compact":
            return await self._compact(message)
        return HELP

    async def _compact(self, message: InboundMessage) -> str:
        session, _warm = await self._pool.acquire(message.key)
        key = message.key
        _name, profile = self._settings.profile_for(
            key.platform, key.scope, key.chat, message.author.id
        )
        try:
            done = await self._compactor.compact(session, profile.tier)
        except ProviderError as exc:
            return f"Could not compact now ({exc.kind}); the conversation is unchanged."
        if not done:
            return "Nothing to compact yet."
        return f"Compacted: older turns are now a summary; {len(session.transcript)} messages kept."

    async def _model(self, argument: str, message: InboundMessage) -> str:
        session, _warm = await self._pool.acquire(message.key)
        key = message.key
        _name, profile = self._settings.profile_for(
            key.platform, key.scope, key.chat, message.author.id
        )
        if not argument:
            current = session.model_override or profile.tier
            refs = ", ".join(str(ref) for ref in self._agent.chain(current))
            tiers = ", ".join(sorted(self._settings.models.tiers))
            return f"Model: {current} ({refs}). Tiers: {tiers}."
        choice = None if argument in ("default", "reset") else argument
        if choice is not None:
            try:
                chain = self._agent.chain(choice)
            except UnknownModelError as exc:
                tiers = ", ".join(sorted(self._settings.models.tiers))
                return f"Unknown model {argument!r} ({exc}). Tiers: {tiers}."
        await self._store.set_model_override(session.id, choice)
        session.model_override = choice
        if choice is None:
            return f"Model reset to the profile's tier ({profile.tier})."
        return f"This thread now uses {choice} ({', '.join(str(r) for r in chain)})."

    async def _stats(self, message: InboundMessage) -> str:
        session, _warm = await self._pool.acquire(message.key)
        turns = await self._store.turns(session_id=session.id)
        if not turns:
            return "No turns in this conversation yet."
        row = summarize(turns)[0]
        p50 = "-" if row.ttft_p50_ns is None else seconds(row.ttft_p50_ns)
        p90 = "-" if row.ttft_p90_ns is None else seconds(row.ttft_p90_ns)
        return (
            f"{row.turns} turn{'s' if row.turns != 1 else ''} · TTFT p50 {p50} s · p90 {p90} s · "
            f"cache read {row.cache_read_share:.0%} of input tokens · "
            f"cost ${row.cost_usd:.4f} (cache saved ${row.cache_savings_usd:.4f})"
        )
