"""Item 5 (issue 11, must-show 4): the soak test — RSS over 10,000 turns across 1,000 threads.

``hearth run`` runs as a deployment runs it, in a process of its own, with a Telegram channel on
the Bot API fake (in this process) and the model fake in a third process. 1,000 private chats
each hold a conversation of 10 turns: every chat sends its next message as soon as its previous
answer has landed. The service's RSS is sampled every second together with the number of turns
answered so far.

Warm-up is the first turn of every thread (1,000 turns: every session exists). After it, warm
sessions still grow by what is said (their transcripts are the point of keeping them warm), so
the slope of RSS over turns is reported next to the size of the transcript text added per turn:
a slope near that size means no leak.

Not part of the default benchmark run (it takes minutes): ``python -m bench.soak``, or
``python bench/run.py --soak``. ``--threads 50 --turns 4`` gives a short run.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import tracemalloc
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from agent.messages import ChatMessage, TextBlock
from agent.prompt import user_message
from bench.model_server import ReplyShape, model_server
from bench.prompts import question
from bench.results import RESULTS, Run, table
from bench.service import NO_LIMIT, REALISTIC, hearth_run, rss_mib, tag
from tests.fakes.latency import LatencyModel
from tests.fakes.script import Text
from tests.fakes.telegram import FakeTelegram

FOOTER = "to first token"
FIRST_CHAT = 10_000
SAMPLE_S = 1.0
TURN_TIMEOUT_S = 120.0
REPLY_CHARS = 480
LATENCY = LatencyModel(
    base_s=REALISTIC.base_s,
    prefill_s_per_token=REALISTIC.prefill_s_per_token,
    output_tokens_per_s=400.0,
)


@dataclass
class Sample:
    """One RSS reading of the service."""

    seconds: float
    turns: int
    rss_mib: float


class Answers:
    """Counts finished answers per chat by scanning only the fake's new messages."""

    def __init__(self, bot_api: FakeTelegram) -> None:
        self._bot_api = bot_api
        self._seen = 0
        self.total = 0
        self._done: dict[int, int] = {}
        self._changed = asyncio.Event()

    def scan(self) -> None:
        """Take in the messages sent since the last scan; drop what the fake recorded."""
        messages = self._bot_api.messages
        for message in messages[self._seen :]:
            if FOOTER in message.text:
                self._done[message.chat_id] = self._done.get(message.chat_id, 0) + 1
                self.total += 1
        self._seen = len(messages)
        # The fake records every request; nothing here reads them, and the soak makes 50,000+.
        self._bot_api.requests.clear()
        self._bot_api.calls.clear()
        self._changed.set()

    async def wait(self, chat: int, count: int) -> None:
        """Until ``chat`` has ``count`` finished answers."""
        while self._done.get(chat, 0) < count:
            self._changed.clear()
            await self._changed.wait()


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 with fewer than two distinct x)."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var


def transcript_kib_per_turn(sample_turns: int = 1000) -> float:
    """What a warm session's transcript gains per turn, measured with ``tracemalloc``.

    The turns are built as Hearth builds them (the question with its volatile context from
    :func:`agent.prompt.user_message`, the answer as one text block), with this soak's sizes.
    """
    shape = ReplyShape(chars=REPLY_CHARS)
    now = datetime.now(UTC)
    context = {"channel": "telegram", "author": "User10000"}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = []
        for n in range(sample_turns):
            answer = "".join(p.text for p in shape.reply(tag("s", n)).parts if isinstance(p, Text))
            kept.append(user_message(question(tag("s", n)), now, context))
            kept.append(ChatMessage("assistant", (TextBlock(answer),)))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return grown / sample_turns / 1024


def _config(tmp: Path, model_url: str, bot_api: FakeTelegram) -> Path:
    config = {
        "data_dir": str(tmp / "data"),
        "models": {
            "providers": {
                "anthropic": {
                    "kind": "anthropic",
                    "api_key": "sk-bench",
                    "base_url": model_url,
                    "max_retries": 0,
                }
            },
            "tiers": {"default": ["anthropic:claude-bench"]},
        },
        "channels": {
            "telegram": {
                "token": bot_api.token,
                "api_base_url": f"{bot_api.url}/bot",
                "file_base_url": f"{bot_api.url}/file/bot",
                "poll_timeout": "2s",
            }
        },
        "access": {"dm": "open"},
        "limits": {
            "user_messages_per_minute": NO_LIMIT,
            "user_daily_tokens": NO_LIMIT,
            "workspace_daily_tokens": NO_LIMIT,
        },
        "server": {"host": "127.0.0.1", "port": 0},
    }
    path = tmp / "hearth.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


async def soak(threads: int, turns: int, latency: LatencyModel = LATENCY) -> dict[str, Any]:
    """Run the soak; returns the samples and the slopes."""
    samples: list[Sample] = []
    async with model_server(latency, reply_chars=REPLY_CHARS) as fake, FakeTelegram() as bot_api:
        with tempfile.TemporaryDirectory(prefix="hearth-soak-") as tmp:
            config = _config(Path(tmp), fake.anthropic_url, bot_api)
            async with hearth_run(config) as service:
                answers = Answers(bot_api)
                loop = asyncio.get_running_loop()
                begin = loop.time()

                def sample() -> None:
                    answers.scan()
                    samples.append(Sample(loop.time() - begin, answers.total, rss_mib(service.pid)))

                async def converse(index: int) -> None:
                    chat = FIRST_CHAT + index
                    for turn in range(1, turns + 1):
                        bot_api.user_message(chat, question(tag(f"s{index}", turn)))
                        await asyncio.wait_for(answers.wait(chat, turn), TURN_TIMEOUT_S)

                async def watch() -> None:
                    while True:
                        sample()
                        await asyncio.sleep(SAMPLE_S)

                watcher = asyncio.create_task(watch())
                try:
                    await asyncio.gather(*(converse(i) for i in range(threads)))
                finally:
                    watcher.cancel()
                    await asyncio.gather(watcher, return_exceptions=True)
                sample()
            problems = service.problems
    return summarise(samples, threads, turns, problems)


def summarise(samples: list[Sample], threads: int, turns: int, problems: int) -> dict[str, Any]:
    """Milestones, and the slope of RSS after warm-up (per 1,000 turns and per minute)."""
    warm = [s for s in samples if s.turns >= threads]
    per_k_turns = 1000 * slope([(s.turns, s.rss_mib) for s in warm])
    per_minute = 60 * slope([(s.seconds, s.rss_mib) for s in warm])
    expected = transcript_kib_per_turn() * 1000 / 1024
    return {
        "threads": threads,
        "turns_per_thread": turns,
        "turns": samples[-1].turns if samples else 0,
        "seconds": samples[-1].seconds if samples else 0.0,
        "warnings_and_errors_logged": problems,
        "rss_start_mib": samples[0].rss_mib if samples else None,
        "rss_after_warmup_mib": warm[0].rss_mib if warm else None,
        "rss_end_mib": samples[-1].rss_mib if samples else None,
        "slope_mib_per_1000_turns": per_k_turns,
        "slope_mib_per_minute": per_minute,
        "transcript_mib_per_1000_turns": expected,
        "samples": [asdict(s) for s in samples],
    }


def markdown(data: dict[str, Any]) -> str:
    """RSS at each tenth of the run, then the slope."""
    samples = data["samples"]
    total = max(data["turns"], 1)
    rows = []
    for tenth in range(11):
        goal = total * tenth // 10
        found = next((s for s in samples if s["turns"] >= goal), samples[-1] if samples else None)
        if found is not None:
            rows.append(
                [f"{found['turns']:,}", f"{found['seconds']:.0f}", f"{found['rss_mib']:.0f}"]
            )
    milestones = table(["turns answered", "seconds", "service RSS MiB"], rows)
    return (
        f"{data['threads']:,} threads × {data['turns_per_thread']} turns = {data['turns']:,} turns "
        f"in {data['seconds']:.0f} s; {data['warnings_and_errors_logged']} warnings or errors "
        f"logged.\n\n{milestones}\n"
        f"After warm-up (the first {data['threads']:,} turns): "
        f"**{data['slope_mib_per_1000_turns']:.2f} MiB per 1,000 turns** "
        f"({data['slope_mib_per_minute']:.2f} MiB per minute), against "
        f"{data['transcript_mib_per_1000_turns']:.2f} MiB per 1,000 turns of transcript text kept "
        "in the warm sessions (measured with tracemalloc).\n"
    )


def main(argv: list[str] | None = None) -> Path:
    """Run the soak and write ``soak.json`` / ``soak.md``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=10, help="turns per thread")
    parser.add_argument("--quick", action="store_true", help="10 threads × 2 turns: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    latency = LATENCY
    if args.quick:
        args.threads, args.turns, latency = 10, 2, LATENCY.scaled(0.1)
    record = Run.begin(
        "soak", {"threads": args.threads, "turns": args.turns, "latency": asdict(latency)}
    )
    data = asyncio.run(soak(args.threads, args.turns, latency))
    return record.finish(data, markdown(data), args.out)


if __name__ == "__main__":
    main()
