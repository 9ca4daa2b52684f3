"""The ``hearth`` command line: run, chat, check, init, stats."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.http import HttpServer
from bot.stats import format_table, summarize
from bot.wiring import build_channels, http_routes, open_runtime, open_store
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

EXIT_CONFIG = 2

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
            return asyncio.run(_stats(settings))
        if args.command == "chat":
            _require_model(settings)
            return asyncio.run(_chat(settings, args.user))
        if args.command == "run":
            _require_model(settings)
            return _run(settings)
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
    commands.add_parser("stats", help="time-to-first-token and cache figures from the store")
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
    problem = missing_model_help(settings)
    if problem is not None:
        print(f"# warning: {problem}")
    print("# config OK")
    return 0


def _has_fts5() -> bool:
    with sqlite3.connect(":memory:") as db:
        try:
            db.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
        except sqlite3.OperationalError:
            return False
    return True


async def _stats(settings: Settings) -> int:
    async with open_store(settings) as store:
        turns = await store.turns()
    if not turns:
        print("no turns stored yet")
        return 0
    print(format_table(summarize(turns)))
    return 0


async def _chat(settings: Settings, user: str) -> int:
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    console = ConsoleChannel(stdin_lines(), sys.stdout, user=user, interactive=interactive)
    async with open_runtime(settings, [console]):
        await console.wait_closed()
    return 0


def _run(settings: Settings) -> int:
    channels = build_channels(settings)
    if not channels:
        raise ConfigError(
            "channels",
            "no channel configured: add channels.telegram, channels.slack or channels.discord, "
            "or try the bot with: hearth chat",
        )
    return asyncio.run(_serve(settings, channels))


async def _serve(settings: Settings, channels: list[Channel]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = settings.server
    async with (
        HttpServer(server.host, server.port, http_routes(channels)) as http,
        open_runtime(settings, channels),
    ):
        log.info(
            "hearth running: %s; health on http://%s:%d/healthz",
            ", ".join(c.name for c in channels),
            server.host,
            http.port,
        )
        await stop.wait()
        log.info("shutting down")
    return 0
