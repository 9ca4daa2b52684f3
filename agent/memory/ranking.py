"""Hybrid ranking of memories: keyword (BM25) and vector (cosine) relevance, fused, then weighed
by recency and importance; weak results dropped, near-duplicates collapsed, the best ``k`` kept.

For every candidate::

    keyword   = bm25 / best bm25 among the candidates        (0..1; 0 when the words did not match)
    vector    = max(0, cosine(query, memory))                (0..1; 0 without vectors)
    relevance = w_vector * vector + w_keyword * keyword      (weights scaled to sum 1)
    score     = relevance * recency * (0.5 + importance)
    recency   = floor + (1 - floor) * 0.5 ** (age / half_life)

Keyword scores are relative (SQLite's BM25 depends on the size of the corpus, so only the order
among one query's matches means something); cosines are absolute (0.3 means the same for any
corpus). Without vectors (no embedder, or the query could not be embedded) the keyword weight
takes the whole share. Importance 0.5, the default, leaves the score as it is; 1 raises it by half.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from agent.memory.records import Memory, Vector
from config.memory import MemorySettings, RecencySettings, WeightSettings

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A memory found by keywords, by vector, or both.

    Attributes:
        memory: The memory.
        bm25: Its BM25 relevance to the query (higher is better), None when the words did not match.
        cosine: Cosine similarity of its vector to the query's, None without vectors.
        vector: Its unit vector, when it has one (used to collapse near-duplicates).
    """

    memory: Memory
    bm25: float | None = None
    cosine: float | None = None
    vector: Vector | None = None


@dataclass(frozen=True, slots=True)
class Scored:
    """A ranked memory with the parts of its score."""

    memory: Memory
    score: float
    keyword: float
    vector: float


def recency_factor(memory: Memory, now: datetime, recency: RecencySettings) -> float:
    """``floor + (1 - floor) * 0.5 ** (age / half_life)``; a memory from the future counts as new."""
    age = max(0.0, (now - memory.touched_at).total_seconds())
    decay = math.pow(0.5, age / recency.half_life.total_seconds())
    return recency.floor + (1.0 - recency.floor) * decay


def effective_weights(weights: WeightSettings, *, vectors: bool) -> tuple[float, float]:
    """(vector, keyword) weights scaled to sum 1; all keyword when there are no vectors."""
    vector = weights.vector if vectors else 0.0
    keyword = weights.keyword
    if vector + keyword <= 0:
        return 0.0, 1.0  # vector-only weights, but no vectors: keywords are all there is
    total = vector + keyword
    return vector / total, keyword / total


def rank(
    candidates: Sequence[Candidate],
    settings: MemorySettings,
    now: datetime,
    *,
    vectors: bool,
    limit: int,
) -> list[Scored]:
    """The best ``limit`` candidates, best first, each scoring at least ``settings.min_score``.

    Args:
        candidates: Keyword and vector matches (each memory once).
        settings: Weights, recency, minimum score and the near-duplicate threshold.
        now: The time ages are measured at.
        vectors: Whether the query had a vector (else vector relevance plays no part).
        limit: How many to return at most.
    """
    w_vector, w_keyword = effective_weights(settings.weights, vectors=vectors)
    best_bm25 = max((c.bm25 for c in candidates if c.bm25), default=0.0)
    scored: list[tuple[Scored, Candidate]] = []
    for candidate in candidates:
        keyword = candidate.bm25 / best_bm25 if candidate.bm25 and best_bm25 > 0 else 0.0
        vector = max(0.0, candidate.cosine) if candidate.cosine is not None and vectors else 0.0
        relevance = w_vector * vector + w_keyword * keyword
        memory = candidate.memory
        score = (
            relevance * recency_factor(memory, now, settings.recency) * (0.5 + memory.importance)
        )
        if relevance > 0 and score >= settings.min_score:
            scored.append((Scored(memory, score, keyword, vector), candidate))
    # Ties (equal scores) go to the newer memory.
    scored.sort(key=lambda pair: (-pair[0].score, -pair[0].memory.id))
    kept: list[tuple[Scored, Candidate]] = []
    for pair in scored:
        if not any(
            near_duplicates(pair[1], other, settings.duplicate_similarity) for _, other in kept
        ):
            kept.append(pair)
            if len(kept) == limit:
                break
    return [result for result, _ in kept]


def near_duplicates(one: Candidate, other: Candidate, threshold: float) -> bool:
    """Whether two memories say the same: their vectors' cosine reaches ``threshold``, or their
    word sets overlap that much (Jaccard), when either has no vector."""
    if (
        one.vector is not None
        and other.vector is not None
        and one.vector.shape == other.vector.shape
    ):
        return float(np.dot(one.vector, other.vector)) >= threshold
    return text_similarity(one.memory.content, other.memory.content) >= threshold


def text_similarity(one: str, other: str) -> float:
    """Jaccard overlap of the lower-cased word sets (1.0 for equal wording)."""
    a, b = set(_WORD.findall(one.lower())), set(_WORD.findall(other.lower()))
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def within_budget(memories: Sequence[Memory], max_tokens: int) -> list[Memory]:
    """``memories`` in order, leaving out any that no longer fits ``max_tokens`` (about 4
    characters a token): a long memory does not crowd out the shorter ones after it."""
    kept: list[Memory] = []
    used = 0
    for memory in memories:
        cost = estimate_tokens(memory.content)
        if used + cost > max_tokens:
            continue
        kept.append(memory)
        used += cost
    return kept


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (English prose averages about 4 characters a token), plus a few
    for the line's marker."""
    return len(text) // 4 + 4
