"""The ``hearth`` command line: run, chat, check, init, stats, pair, forget-user."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from agent.clock import SystemClock
from bot.logs import configure_logging
from bot.pairing import (
    APPROVAL_RECHECK,
    Pairing,
    approval_text,
    listing_lines,
    parse_person,
    revoke_text,
)
from bot.redaction import configured_secrets
from bot.report import write_report
from bot.stats import format_table, summarize
from bot.store.access import ApprovedUser, SqliteAccessStore
from bot.store.memories import choose_vector_search
from channels.base import Channel, ChannelError
from channels.console import ConsoleChannel, stdin_lines
from config import (
    ConfigError,
    Settings,
    find_config_path,
    load_settings,
    missing_model_help,
    render_masked,
    starter_config,
)
from config.memory import check_embedder

EXIT_CONFIG = 2

# The runtime's modules (bot.wiring, bot.http, bot.memory) are imported inside the commands that
# use them: ``check``, ``init``, ``stats`` and ``pair`` then start without loading the agent, the
# memory search and the HTTP stack.

log = logging.getLogger("hearth")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else _quiet_level(args.command),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "init":
        return _init(Path(args.path), force=args.force)
    try:
        settings = _settings(args.config)
        if args.command == "check":
            return _check(settings)
        if args.command == "stats":
            return asyncio.run(_stats(settings, args.html))
        if args.command == "pair":
            argument = getattr(args, "code", "") or getattr(args, "person", "")
            return asyncio.run(_pair(settings, args.pair_command or "list", argument))
        if args.command == "forget-user":
            return asyncio.run(_forget_user(settings, args.person))
        if args.command == "chat":
            _require_model(settings)
            return asyncio.run(_chat(settings, args.user))
        if args.command == "run":
            _require_model(settings)
            return _run(settings, verbose=args.verbose)
    except ConfigError as exc:
        print(f"hearth: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ChannelError as exc:
        print(f"hearth: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees one


def _quiet_level(command: str) -> int:
    # The terminal chat keeps stderr for problems; a service logs what it does.
    return logging.INFO if command == "run" else logging.WARNING


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hearth", description="An LLM agent for Slack, Discord and Telegram."
    )
    parser.add_argument(
        "-c", "--config", help="config file (default: $HEARTH_CONFIG, ./hearth.yaml)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot on the configured channels")
    chat = commands.add_parser("chat", help="chat in the terminal through the same pipeline")
    chat.add_argument("--user", default=getpass.getuser(), help="your name in the conversation")
    commands.add_parser("check", help="validate the config and print it with secrets masked")
    stats = commands.add_parser(
        "stats", help="time-to-first-token and cache figures from the store"
    )
    stats.add_argument(
        "--html", metavar="PATH", help="also write a self-contained page with charts to PATH"
    )
    pair = commands.add_parser(
        "pair", help="list, approve or revoke pairing of DM users (alone: list)"
    )
    pair_commands = pair.add_subparsers(dest="pair_command")
    approve = pair_commands.add_parser("approve", help="let the user who got CODE chat")
    approve.add_argument("code", help="the code the user got, e.g. K7MX3QPA")
    pair_commands.add_parser("list", help="codes waiting for approval, and approved users")
    revoke = pair_commands.add_parser(
        "revoke", help="withdraw a user's approval: their next DM gets a new code"
    )
    revoke.add_argument("person", metavar="PLATFORM:USER_ID", help="e.g. telegram:123456")
    forget = commands.add_parser(
        "forget-user", help="delete a person's memories, their vectors and their conversations"
    )
    forget.add_argument("person", metavar="PLATFORM:USER_ID", help="e.g. telegram:123456")
    init = commands.add_parser("init", help="write a commented starter config")
    init.add_argument("path", nargs="?", default="hearth.yaml")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    return parser


def _settings(explicit: str | None) -> Settings:
    path = find_config_path(explicit, os.environ, Path.cwd())
    return load_settings(path, os.environ)


def _require_model(settings: Settings) -> None:
    problem = missing_model_help(settings)
    if problem is not None:
        raise ConfigError("models", problem)


def _init(path: Path, *, force: bool) -> int:
    if path.exists() and not force:
        print(f"hearth: {path} exists; use --force to overwrite", file=sys.stderr)
        return 1
    path.write_text(starter_config(), encoding="utf-8")
    print(f"wrote {path}; edit it, then run: hearth check")
    return 0


def _check(settings: Settings) -> int:
    print(render_masked(settings), end="")
    print(f"# sqlite {sqlite3.sqlite_version}, FTS5 {'yes' if _has_fts5() else 'no'}")
    print(_memory_report(settings))
    problem = missing_model_help(settings)
    if problem is not None:
        print(f"# warning: {problem}")
    for line in _mcp_report(settings):
        print(line)
    print("# config OK")
    return 0


def _mcp_report(settings: Settings) -> list[str]:
    """Start each MCP server once and stop it: a broken one is reported, not fatal (as in run)."""
    if not settings.tools.mcp:
        return []
    # The mcp SDK takes over a second to import: only configurations that use it pay for it.
    from agent.tools.mcp import probe  # noqa: PLC0415

    return [
        f"# mcp {s.name}: ok, {len(s.tools)} tools: {', '.join(s.tools)}"
        if s.ok
        else f"# warning: mcp {s.name} failed to start ({s.error}); runs without it"
        for s in asyncio.run(probe(settings.tools.mcp))
    ]


def _memory_report(settings: Settings) -> str:
    """Keyword-only or hybrid, and what serves vector search here (sqlite-vec, else NumPy)."""
    check_embedder(settings.memory, settings.models.providers)
    embedder = settings.memory.embedder
    mode = (
        f"keywords + vectors ({embedder.provider}:{embedder.model})"
        if embedder is not None
        else "keywords only (no memory.embedder)"
    )
    support = choose_vector_search(settings.memory.vector_search)
    search = support.detail if support.available else f"NumPy exact cosine ({support.detail})"
    return f"# memory: {mode}; vector search: {search}"


async def _forget_user(settings: Settings, person: str) -> int:
    platform, _, user_id = person.partition(":")
    if not platform or not user_id:
        print("hearth: forget-user takes PLATFORM:USER_ID, e.g. telegram:123456", file=sys.stderr)
        return EXIT_CONFIG
    from bot.memory import forget_user  # noqa: PLC0415
    from bot.wiring import open_store  # noqa: PLC0415

    async with open_store(settings) as store:
        done = await forget_user(store, platform, user_id)
    print(
        f"forgot {person}: memories {done.memories}, turns {done.turns}, messages "
        f"{done.messages}, conversations {done.sessions}"
    )
    # Another process's warm sessions still hold their transcripts until they go idle.
    print("a running hearth keeps open conversations in memory until they idle out; restart it")
    return 0


def _has_fts5() -> bool:
    with sqlite3.connect(":memory:") as db:
        try:
            db.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
        except sqlite3.OperationalError:
            return False
    return True


async def _stats(settings: Settings, html: str | None) -> int:
    from bot.wiring import open_store  # noqa: PLC0415

    async with open_store(settings) as store:
        turns = await store.turns()
    if html is not None:
        write_report(turns, Path(html))
        print(f"wrote {html}")
    if not turns:
        print("no turns stored yet")
        return 0
    print(format_table(summarize(turns)))
    return 0


async def _pair(settings: Settings, command: str, argument: str) -> int:
    from bot.wiring import open_store  # noqa: PLC0415

    person = parse_person(argument) if command == "revoke" else None
    if command == "revoke" and person is None:
        print("hearth: pair revoke takes PLATFORM:USER_ID, e.g. telegram:123456", file=sys.stderr)
        return EXIT_CONFIG
    clock = SystemClock()
    async with open_store(settings) as store:
        pairing = Pairing(SqliteAccessStore(store), clock)
        if command == "list":
            pending, approved = await pairing.listing()
            hint = (
                f"Revoke with: hearth pair revoke PLATFORM:USER_ID"
                f" (e.g. {approved[0].platform}:{approved[0].user_id})"
                if approved
                else ""
            )
            print(listing_lines(pending, approved, clock.now(), hint))
            return 0
        if person is not None:
            return _revoked(await pairing.revoke(*person, "cli"), *person)
        approval = await pairing.approve(argument, "cli")
    text = approval_text(approval, argument, clock.now())
    if approval.status not in ("approved", "used"):
        print(f"hearth: {text}", file=sys.stderr)
        return 1
    print(text)
    return 0


def _revoked(revoked: ApprovedUser | None, platform: str, user_id: str) -> int:
    text = revoke_text(revoked, platform, user_id)
    if revoked is None:
        print(f"hearth: {text}", file=sys.stderr)
        return 1
    print(text)
    # The running service trusts its last look-up for a moment (a store read per message saved).
    print(f"A running hearth stops answering them within {APPROVAL_RECHECK.total_seconds():g} s.")
    return 0


async def _chat(settings: Settings, user: str) -> int:
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    console = ConsoleChannel(stdin_lines(), sys.stdout, user=user, interactive=interactive)
    from bot.wiring import open_runtime  # noqa: PLC0415

    async with open_runtime(settings, [console]):
        await console.wait_closed()
    return 0


def _run(settings: Settings, *, verbose: bool) -> int:
    from bot.wiring import build_channels  # noqa: PLC0415

    configure_logging(
        settings.logging,
        secrets=configured_secrets(settings),
        stream=sys.stderr,
        verbose=verbose,
    )
    channels = build_channels(settings)
    if not channels:
        raise ConfigError(
            "channels",
            "no channel configured: add channels.telegram, channels.slack or channels.discord, "
            "or try the bot with: hearth chat",
        )
    return asyncio.run(_serve(settings, channels))


def settle_heap() -> None:
    """Move everything alive after start-up out of the garbage collector's sight.

    The SDKs, their models and the service's own structures live as long as the process; a full
    collection walks them all (~160 ms on the reference machine), stopping every reply, each time
    the heap has grown enough. Frozen, they are never walked again; what turns allocate still is.
    """
    gc.collect()
    gc.freeze()


async def _serve(settings: Settings, channels: list[Channel]) -> int:
    from bot.http import HttpServer, OpsEndpoints  # noqa: PLC0415
    from bot.wiring import http_routes, open_runtime  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    grace = settings.shutdown.grace.total_seconds()

    def on_signal(signum: signal.Signals) -> None:
        if stop.is_set():
            # A second signal: whoever sent it will not wait for the grace period. SQLite keeps
            # every committed turn; a cut reply stays as it was last shown.
            log.warning("%s again: exiting at once", signum.name)
            sys.stderr.flush()
            os._exit(128 + signum.value)
        log.info("%s: shutting down, in-flight replies get up to %g s", signum.name, grace)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    server = settings.server
    ops = OpsEndpoints()
    async with (
        HttpServer(server.host, server.port, [*http_routes(channels), *ops.routes()]) as http,
        open_runtime(settings, channels) as runtime,
    ):
        ops.attach(runtime.health, runtime.metrics)
        settle_heap()
        log.info(
            "hearth running: %s; /healthz /readyz /metrics on http://%s:%d",
            ", ".join(c.name for c in channels),
            server.host,
            http.port,
        )
        await stop.wait()
    log.info("stopped cleanly")
    return 0
