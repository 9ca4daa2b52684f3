"""Hybrid ranking on fixed scores: weights, recency, importance, minimum score, near-duplicates,
the token budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from agent.memory import Candidate, Memory
from agent.memory.ranking import (
    effective_weights,
    estimate_tokens,
    rank,
    recency_factor,
    text_similarity,
    within_budget,
)
from agent.memory.records import unit
from config.memory import MemorySettings, WeightSettings
from tests.unit.agent.memory.corpus import CORPUS, QUERY, VECTORS, A, B, C, D, E

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
# BM25 of the corpus' keyword matches for QUERY (A has both words; C is shorter than D).
BM25 = {A: 2.0, C: 1.1, D: 0.9}


def settings(**changes: Any) -> MemorySettings:
    return MemorySettings.model_validate(changes)


def memory(
    number: int, text: str, *, age: timedelta = timedelta(0), importance: float = 0.5
) -> Memory:
    return Memory(number, "user", text, NOW - age, importance)


def corpus_candidates(*, vectors: bool = True) -> list[Candidate]:
    query = unit(np.asarray(VECTORS[QUERY], dtype=np.float32))
    found = []
    for number, text in enumerate(CORPUS, start=1):
        vector = unit(np.asarray(VECTORS[text], dtype=np.float32)) if vectors else None
        cosine = float(np.dot(vector, query)) if vector is not None else None
        found.append(Candidate(memory(number, text), BM25.get(text), cosine, vector))
    return found


def texts(ranked: list[Any]) -> list[str]:
    return [r.memory.content for r in ranked]


@pytest.mark.parametrize(
    ("weights", "vectors", "expected"),
    [
        # Keyword-only (no embedder): BM25 order.
        ({}, False, [A, C, D]),
        # Vector-only: cosine order, words play no part.
        ({"vector": 1, "keyword": 0}, True, [B, E, A]),
        # Hybrid 0.7/0.3 (default): A has both; meaning lifts B and E over the word-only C and D.
        ({}, True, [A, B, E]),
        # Keyword-heavy: the word matches come back above the memories that only mean "tea".
        ({"vector": 0.1, "keyword": 0.9}, True, [A, C, D]),
    ],
)
def test_the_corpus_ranks_as_documented(
    weights: dict[str, float], vectors: bool, expected: list[str]
) -> None:
    ranked = rank(
        corpus_candidates(vectors=vectors),
        settings(weights=weights),
        NOW,
        vectors=vectors,
        limit=3,
    )
    assert texts(ranked) == expected


def test_hybrid_scores_are_the_weighted_sum_of_normalised_parts() -> None:
    [first, second, _] = rank(corpus_candidates(), settings(), NOW, vectors=True, limit=3)
    assert first.keyword == 1.0  # the best BM25 match scales to 1
    assert first.vector == pytest.approx(0.8, abs=1e-6)
    assert first.score == pytest.approx(0.7 * 0.8 + 0.3 * 1.0, abs=1e-6)
    assert second.keyword == 0.0
    assert second.score == pytest.approx(0.7 * second.vector, abs=1e-6)


@pytest.mark.parametrize(
    ("weights", "vectors", "expected"),
    [
        (WeightSettings(), True, (0.7, 0.3)),
        (WeightSettings(vector=2, keyword=2), True, (0.5, 0.5)),
        (WeightSettings(), False, (0.0, 1.0)),  # no vectors: keywords take the whole share
        (WeightSettings(vector=1, keyword=0), False, (0.0, 1.0)),
    ],
)
def test_effective_weights(
    weights: WeightSettings, vectors: bool, expected: tuple[float, float]
) -> None:
    assert effective_weights(weights, vectors=vectors) == pytest.approx(expected)


def test_recency_and_importance_reorder_equally_relevant_memories() -> None:
    half_life = timedelta(days=90)
    fresh = Candidate(memory(1, "tea one"), bm25=1.0)
    stale = Candidate(memory(2, "tea two", age=half_life), bm25=1.0)
    vital = Candidate(memory(3, "tea three", age=half_life, importance=1.0), bm25=1.0)
    ranked = rank([fresh, stale, vital], settings(), NOW, vectors=False, limit=5)
    # stale: 1 × (0.5 + 0.5 × 0.5) = 0.75; vital: 0.75 × 1.5 = 1.125; fresh: 1.0
    assert [r.memory.id for r in ranked] == [3, 1, 2]
    assert [r.score for r in ranked] == pytest.approx([1.125, 1.0, 0.75])
    assert recency_factor(stale.memory, NOW, settings().recency) == pytest.approx(0.75)
    old = memory(4, "x", age=timedelta(days=3650))
    assert recency_factor(old, NOW, settings().recency) == pytest.approx(0.5, abs=1e-6)
    future = memory(5, "x", age=-timedelta(days=1))
    assert recency_factor(future, NOW, settings().recency) == 1.0


def test_last_use_counts_as_fresh() -> None:
    used = Memory(1, "user", "x", NOW - timedelta(days=900), 0.5, last_used_at=NOW)
    assert recency_factor(used, NOW, settings().recency) == 1.0


def test_weak_results_fall_below_the_minimum_score_and_top_k_cuts() -> None:
    candidates = [
        Candidate(memory(i, f"fact {i}"), cosine=c) for i, c in enumerate([0.9, 0.5, 0.19, -0.4])
    ]
    ranked = rank(candidates, settings(min_score=0.2), NOW, vectors=True, limit=10)
    # vector-only relevance is 0.7 × cosine here (keywords matched nothing)
    assert [r.memory.id for r in ranked] == [0, 1]
    assert len(rank(candidates, settings(min_score=0), NOW, vectors=True, limit=1)) == 1


def test_near_duplicates_collapse_to_the_better_one() -> None:
    base = unit(np.asarray([1.0, 0.2, 0.0], dtype=np.float32))
    twin = unit(np.asarray([1.0, 0.21, 0.0], dtype=np.float32))  # cosine > 0.99
    other = unit(np.asarray([0.6, 0.8, 0.0], dtype=np.float32))
    candidates = [
        Candidate(memory(1, "Alice likes sencha"), 1.0, 0.9, base),
        Candidate(memory(2, "Alice is fond of sencha"), 0.9, 0.89, twin),
        Candidate(memory(3, "Alice owns a cat"), None, 0.5, other),
        # Without vectors, near-identical wording counts as a duplicate.
        Candidate(memory(4, "alice likes SENCHA!"), 0.95, None, None),
    ]
    ranked = rank(candidates, settings(), NOW, vectors=True, limit=5)
    assert [r.memory.id for r in ranked] == [1, 3]
    kept_all = rank(candidates, settings(duplicate_similarity=1.0), NOW, vectors=True, limit=5)
    assert [r.memory.id for r in kept_all] == [1, 2, 3]  # the same words are always the same


@pytest.mark.parametrize(
    ("one", "other", "expected"),
    [
        ("Alice likes tea", "alice LIKES tea.", 1.0),
        ("Alice likes tea", "Alice likes coffee", 0.5),
        ("", "", 1.0),
        ("tea", "", 0.0),
    ],
)
def test_text_similarity(one: str, other: str, expected: float) -> None:
    assert text_similarity(one, other) == pytest.approx(expected)


def test_the_budget_keeps_what_fits_in_rank_order() -> None:
    short = [memory(i, "x" * 36) for i in range(3)]  # 13 tokens each
    long = memory(9, "y" * 400)  # 104 tokens
    assert estimate_tokens("x" * 36) == 13
    assert [m.id for m in within_budget([short[0], long, short[1], short[2]], 30)] == [0, 1]
    assert within_budget([long], 50) == []
    assert [m.id for m in within_budget(short, 1000)] == [0, 1, 2]


def test_the_corpus_has_no_near_duplicates() -> None:
    vectors = [unit(np.asarray(VECTORS[text], dtype=np.float32)) for text in CORPUS]
    for i, one in enumerate(vectors):
        for other in vectors[i + 1 :]:
            assert float(np.dot(one, other)) < 0.95
