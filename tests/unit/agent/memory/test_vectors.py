"""The NumPy index: exact cosine per owner, updates in place, bounded memory."""

from __future__ import annotations

import numpy as np
import pytest

from agent.memory import NumpyVectorIndex, Owner
from agent.memory.records import from_blob, to_blob, unit

ALICE: Owner = ("user", "slack:T1:alice")
BOB: Owner = ("user", "slack:T1:bob")
CHAT: Owner = ("chat", "slack:T1:C1")


def vec(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def test_search_is_exact_cosine_within_the_given_owners_only() -> None:
    index = NumpyVectorIndex()
    index.load(ALICE, [1, 2, 3], np.stack([vec(1, 0, 0), vec(0.6, 0.8, 0), vec(0, 0, 5)]))
    index.load(BOB, [7], np.stack([vec(1, 0, 0)]))
    hits = index.search([ALICE], vec(2, 0, 0), limit=2)
    assert [i for i, _ in hits] == [1, 2]
    assert [round(c, 6) for _, c in hits] == [1.0, 0.6]  # rows are scaled to unit length
    assert 7 not in [i for i, _ in index.search([ALICE, CHAT], vec(1, 0, 0), limit=10)]
    both = index.search([ALICE, BOB], vec(1, 0, 0), limit=2)
    assert [i for i, _ in both] == [7, 1]  # equal cosines: the newer id first


def test_put_grows_and_replaces_and_remove_fills_the_gap() -> None:
    index = NumpyVectorIndex()
    index.load(ALICE, [], np.zeros((0, 2), dtype=np.float32))
    for number in range(1, 41):  # past the initial capacity: the buffer doubles
        index.put(ALICE, number, vec(1, number / 40))
    assert index.rows == 40
    index.put(ALICE, 5, vec(0, 1))  # replaces memory 5's vector
    assert index.rows == 40
    assert index.search([ALICE], vec(0, 1), limit=1)[0][0] == 5
    index.remove([5, 40, 999])
    assert index.rows == 38
    found = {i for i, _ in index.search([ALICE], vec(1, 1), limit=100)}
    assert found == set(range(1, 40)) - {5}
    index.put(BOB, 1, vec(1, 0))  # not loaded: read from the store on load instead
    assert not index.loaded(BOB)


def test_least_recently_used_owners_leave_when_the_rows_pass_the_bound() -> None:
    index = NumpyVectorIndex(max_rows=4)
    index.load(ALICE, [1, 2], np.stack([vec(1, 0), vec(0, 1)]))
    index.load(BOB, [3, 4], np.stack([vec(1, 0), vec(0, 1)]))
    index.search([ALICE], vec(1, 0), limit=1)  # Alice is now the most recently used
    index.load(CHAT, [5], np.stack([vec(1, 1)]))
    assert index.loaded(ALICE) and index.loaded(CHAT) and not index.loaded(BOB)
    index.load(BOB, [3, 4, 6, 8, 9], np.stack([vec(1, 0)] * 5))  # alone over the bound: kept
    assert index.loaded(BOB) and index.rows == 5


def test_vectors_of_another_size_are_ignored() -> None:
    index = NumpyVectorIndex()
    index.load(ALICE, [1], np.stack([vec(1, 0)]))
    index.put(ALICE, 2, vec(1, 0, 0))
    assert index.rows == 1
    assert index.search([ALICE], vec(1, 0, 0), limit=5) == []


@pytest.mark.parametrize("values", [(0.0, 0.0), (3.0, 4.0), (-1.5, 2.25, 1e-8)])
def test_blobs_round_trip_and_unit_scales(values: tuple[float, ...]) -> None:
    vector = vec(*values)
    assert np.array_equal(from_blob(to_blob(vector)), vector)
    norm = float(np.linalg.norm(unit(vector)))
    assert norm == pytest.approx(0.0 if not any(values) else 1.0, abs=1e-6)
