"""Long-term memory recall latency at 1,000, 10,000 and 100,000 memories in one scope.

What is timed is :meth:`agent.memory.HybridMemories.recall`, the call a turn makes before its model
request (inside the ``prepare`` segment): the FTS5 keyword query, the vector search, fetching the
candidates with their vectors and the ranking (marking the chosen ones used runs in the
background), on the real SQLite store in a temporary directory. The embeddings endpoint is left out (its latency is the provider's):
memories and query vectors are random unit vectors of ``--dims`` dimensions (1,536 = OpenAI's
``text-embedding-3-small``), put in the embedding cache up front; memory texts are 12 words from a
5,000-word vocabulary, queries 6.

Columns: **cold** is the first recall of the scope (its vectors are read from SQLite into the NumPy
index), then p50/p90 over ``--queries`` warm recalls: **hybrid** (keywords + vectors),
**keyword-only** (no embedder), and the **vector search** alone (one matrix-vector product and a
partial sort in NumPy). Where this Python can load SQLite extensions and sqlite-vec is installed,
``--sqlite-vec`` times vector search inside SQLite instead.

``python -m bench.memory_search [--sizes 1000 10000 100000] [--dims 1536] [--queries 50] [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from agent.memory import Embeddings, HybridMemories, Owner, Vector, content_hash
from agent.memory.records import to_blob, unit
from bench.results import RESULTS, Run, table
from bot.store.memories import SqliteMemories, sqlite_vec_support
from bot.store.sqlite import SqliteStore
from config.memory import MemorySettings

OWNER: Owner = ("user", "bench:workspace:someone")
MODEL = "bench:random"
VOCABULARY = 5000
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


class RandomEmbedder:
    """Random unit vectors for queries (memories get theirs when the corpus is written)."""

    model = MODEL

    def __init__(self, dims: int, seed: int) -> None:
        self._dims = dims
        self._random = np.random.default_rng(seed)

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        return [unit(self._random.standard_normal(self._dims).astype(np.float32)) for _ in texts]

    async def aclose(self) -> None:
        return None


def words(rng: random.Random, count: int) -> str:
    return " ".join(f"w{rng.randrange(VOCABULARY)}" for _ in range(count))


async def write_corpus(store: SqliteStore, size: int, dims: int, seed: int) -> None:
    """``size`` memories of one owner with their vectors in the embedding cache."""
    rng = random.Random(seed)
    vectors = np.random.default_rng(seed).standard_normal((size, dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    stamp = NOW.isoformat()
    texts = [f"{words(rng, 12)} {number}" for number in range(size)]
    async with store.transaction() as db:
        await db.executemany(
            "INSERT INTO memories (scope, owner, content, content_hash, created_at, importance)"
            " VALUES (?, ?, ?, ?, ?, 0.5)",
            [(OWNER[0], OWNER[1], t, content_hash(t), stamp) for t in texts],
        )
        await db.executemany(
            "INSERT INTO embeddings (model, content_hash, dims, vector, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (MODEL, content_hash(t), dims, to_blob(v), stamp)
                for t, v in zip(texts, vectors, strict=True)
            ],
        )


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    """Milliseconds one awaited call took."""
    start = time.perf_counter_ns()
    await call()
    return (time.perf_counter_ns() - start) / 1e6


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p90": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))], 2),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
    }


async def measure(size: int, dims: int, queries: int, *, sqlite_vec: bool) -> dict[str, Any]:
    """Time recalls over a fresh store of ``size`` memories."""
    rng = random.Random(size)
    with tempfile.TemporaryDirectory() as tmp:
        async with SqliteStore(Path(tmp) / "bench.db") as store:
            await write_corpus(store, size, dims, seed=size)
            repository = SqliteMemories(
                store, vector_search="sqlite-vec" if sqlite_vec else "numpy"
            )
            await repository.prepare()
            embeddings = Embeddings(RandomEmbedder(dims, seed=size), repository, batch_size=64)
            hybrid = HybridMemories(repository, MemorySettings(), embeddings)
            keyword = HybridMemories(repository, MemorySettings())
            texts = [words(rng, 6) for _ in range(queries + 1)]
            for text in texts:  # query vectors ready: the endpoint is not what is measured
                await embeddings.for_query(text)
            cold = await timed(partial(hybrid.recall, [OWNER], texts[0], NOW))
            warm = [await timed(partial(hybrid.recall, [OWNER], t, NOW)) for t in texts[1:]]
            plain = [await timed(partial(keyword.recall, [OWNER], t, NOW)) for t in texts[1:]]
            vectors = []
            for text in texts[1:]:
                query = await embeddings.for_query(text)
                search = partial(repository.vector_hits, [OWNER], query, MODEL, 20)
                vectors.append(await timed(search))
            await hybrid.aclose()  # the "used" marks written in the background, as at shutdown
            await keyword.aclose()
    return {
        "memories": size,
        "dims": dims,
        "vector_search": repository.vector_search,
        "cold_ms": round(cold, 2),
        "hybrid_ms": percentiles(warm),
        "keyword_ms": percentiles(plain),
        "vector_ms": percentiles(vectors),
    }


def _cell(summary: dict[str, float]) -> str:
    return f"{summary['p50']} / {summary['p90']} / {summary['p99']}"


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    headers = [
        "memories in the scope",
        "vector search",
        "cold (ms)",
        "hybrid p50 / p90 / p99 (ms)",
        "keyword-only p50 / p90 / p99 (ms)",
        "vector search p50 / p90 / p99 (ms)",
    ]
    return table(
        headers,
        [
            [
                f"{r['memories']:,}",
                f"{r['vector_search']}, {r['dims']} dims",
                r["cold_ms"],
                _cell(r["hybrid_ms"]),
                _cell(r["keyword_ms"]),
                _cell(r["vector_ms"]),
            ]
            for r in rows
        ],
    )


def main(argv: list[str] | None = None) -> Path:
    """Run the benchmark and write ``memory_search.json`` / ``memory_search.md``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--dims", type=int, default=1536)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--sqlite-vec", action="store_true", help="vector search in SQLite")
    parser.add_argument("--quick", action="store_true", help="200 and 1,000 memories of 64 dims")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.dims, args.queries = [200, 1000], 64, 10
    if args.sqlite_vec and not sqlite_vec_support().available:
        parser.error(f"--sqlite-vec: {sqlite_vec_support().detail}")
    options = {"sizes": args.sizes, "dims": args.dims, "queries": args.queries}
    record = Run.begin("memory_search", options | {"sqlite_vec": args.sqlite_vec})
    rows = [
        asyncio.run(measure(size, args.dims, args.queries, sqlite_vec=args.sqlite_vec))
        for size in args.sizes
    ]
    note = (
        "\nRecall = what a turn does before its model request: FTS5 keywords, vector search, "
        "fetch, rank (marking them used runs in the background; the embeddings endpoint's own "
        "latency is not included). Cold = the scope's first recall, which loads its vectors "
        "from SQLite.\n"
    )
    return record.finish({"rows": rows}, markdown(rows) + note, args.out)


if __name__ == "__main__":
    main()
