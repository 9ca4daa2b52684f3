"""Exact cosine search over each owner's memory vectors, in memory, with NumPy.

The store keeps the vectors; this index keeps a matrix of unit vectors per owner loaded from it on
first use, so a search is one matrix-vector product per owner (100,000 vectors of 1,536 dimensions
take tens of milliseconds on one core; see ``bench/memory_search.py``). Owners are dropped least
recently used first once the rows held pass ``max_rows``, and loaded again when needed.

One process's view: memories that another process adds reach this index when the owner is loaded
again. (A store for several instances would search in the database instead, as sqlite-vec or
pgvector do.)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from agent.memory.records import Owner, Vector, unit

DEFAULT_MAX_ROWS = 500_000
_MIN_CAPACITY = 16


class _Matrix:
    """One owner's vectors: rows ``[:size]`` of a buffer that grows by doubling."""

    def __init__(self, ids: Sequence[int], matrix: NDArray[np.float32]) -> None:
        # Takes ``matrix`` over (no copy of a scope's hundreds of megabytes); rows not of unit
        # length (stored by other means than Embeddings) are scaled in place.
        rows = np.require(matrix, dtype=np.float32, requirements=["C", "W"])
        norms = np.linalg.norm(rows, axis=1)
        off = np.flatnonzero((np.abs(norms - 1.0) > 1e-3) & (norms > 0))
        rows[off] /= norms[off, None]
        self.rows: NDArray[np.float32] = rows
        self.ids: NDArray[np.int64] = np.asarray(ids, dtype=np.int64).copy()
        self.size = len(self.ids)
        self.where: dict[int, int] = {int(memory_id): row for row, memory_id in enumerate(ids)}

    def put(self, memory_id: int, vector: Vector) -> None:
        row = self.where.get(memory_id)
        if row is None:
            if self.size == len(self.ids):
                grow = max(_MIN_CAPACITY, self.size)
                self.rows = np.concatenate(
                    [self.rows, np.zeros((grow, self.rows.shape[1]), np.float32)]
                )
                self.ids = np.concatenate([self.ids, np.zeros(grow, np.int64)])
            row, self.size = self.size, self.size + 1
            self.where[memory_id] = row
        self.rows[row] = unit(vector)
        self.ids[row] = memory_id

    def remove(self, memory_id: int) -> None:
        row = self.where.pop(memory_id, None)
        if row is None:
            return
        last = self.size - 1
        if row != last:  # the last row fills the gap
            self.rows[row] = self.rows[last]
            self.ids[row] = self.ids[last]
            self.where[int(self.ids[row])] = row
        self.size = last

    def similarities(self, query: Vector) -> NDArray[np.float32]:
        result: NDArray[np.float32] = self.rows[: self.size] @ query
        return result


class NumpyVectorIndex:
    """Per-owner matrices of unit vectors of one embedding model.

    Args:
        max_rows: Vectors held in memory at most (over all owners), e.g. 500,000 of 1,536
            dimensions are about 3 GB.
    """

    def __init__(self, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self._owners: OrderedDict[Owner, _Matrix] = OrderedDict()
        self._max_rows = max_rows

    def loaded(self, owner: Owner) -> bool:
        """Whether ``owner``'s vectors are in memory."""
        return owner in self._owners

    def load(self, owner: Owner, ids: Sequence[int], matrix: NDArray[np.float32]) -> None:
        """Hold ``owner``'s vectors (all of them, as stored: row ``i`` is memory ``ids[i]``),
        replacing what was held."""
        self._owners[owner] = _Matrix(ids, matrix)
        self._owners.move_to_end(owner)
        self._trim(keep=owner)

    def put(self, owner: Owner, memory_id: int, vector: Vector) -> None:
        """Add or replace one vector of a loaded owner (an owner not loaded reads it on load)."""
        matrix = self._owners.get(owner)
        if matrix is not None and matrix.rows.shape[1] == vector.shape[0]:
            matrix.put(memory_id, vector)

    def remove(self, memory_ids: Sequence[int]) -> None:
        """Forget these memories' vectors, whoever owns them."""
        for matrix in self._owners.values():
            for memory_id in memory_ids:
                matrix.remove(memory_id)

    def clear(self) -> None:
        """Drop everything (it is loaded again from the store when needed)."""
        self._owners.clear()

    def search(self, owners: Sequence[Owner], query: Vector, limit: int) -> list[tuple[int, float]]:
        """The ``limit`` most similar memories of the loaded ``owners``: (id, cosine), best first."""
        query = unit(query)
        best: list[tuple[int, float]] = []
        for owner in owners:
            matrix = self._owners.get(owner)
            if matrix is None or matrix.size == 0 or matrix.rows.shape[1] != query.shape[0]:
                continue
            self._owners.move_to_end(owner)
            sims = matrix.similarities(query)
            if len(sims) > limit:
                top = np.argpartition(-sims, limit - 1)[:limit]
            else:
                top = np.arange(len(sims))
            best += [(int(matrix.ids[i]), float(sims[i])) for i in top]
        best.sort(key=lambda hit: (-hit[1], -hit[0]))
        return best[:limit]

    @property
    def rows(self) -> int:
        """Vectors held now."""
        return sum(matrix.size for matrix in self._owners.values())

    def _trim(self, keep: Owner) -> None:
        while self.rows > self._max_rows and len(self._owners) > 1:
            oldest = next(iter(self._owners))
            if oldest == keep:
                self._owners.move_to_end(keep)
                continue
            del self._owners[oldest]
