"""A fixed corpus of memories and a deterministic test embedder for the ranking tests.

The embedder reads vectors from a table over six made-up concepts, so each memory's similarity to
the query is known exactly: the query "favourite tea" is pure *tea*. No two memories are near
duplicates (every pairwise cosine is below 0.95).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from agent.memory import EmbeddingError, Vector

#        tea   coffee work  sport pet   travel
QUERY = "favourite tea"
A = "Favourite tea: sencha from Shizuoka"  # both query words; tea and travel (cosine 0.80)
B = "Drinks matcha every morning"  # no query word; nearly pure tea (0.95)
C = "Office tea kettle broken"  # the word "tea", but about work (0.30)
D = "Favourite football club is Hertha BSC Berlin"  # the word "favourite", about sport (0.00)
E = "Prefers oolong in the evening"  # no query word; tea (0.90)
F = "Has a cat named Miso"
G = "Planning a trip to Japan in April"
CORPUS = (A, B, C, D, E, F, G)
VECTORS: dict[str, tuple[float, ...]] = {
    QUERY: (1.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    A: (0.8, 0.0, 0.0, 0.0, 0.0, 0.6),
    B: (0.95, 0.31, 0.0, 0.0, 0.0, 0.0),
    C: (0.3, 0.0, 0.95, 0.0, 0.0, 0.0),
    D: (0.0, 0.0, 0.0, 1.0, 0.0, 0.0),
    E: (0.9, 0.0, 0.0, 0.0, 0.44, 0.0),
    F: (0.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    G: (0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
}


class TableEmbedder:
    """An :class:`agent.memory.Embedder` that looks vectors up in a table and counts requests."""

    model = "test:table"

    def __init__(self, table: Mapping[str, Sequence[float]] = VECTORS) -> None:
        self.table = table
        self.requests: list[list[str]] = []
        self.failing = False

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        self.requests.append(list(texts))
        if self.failing:
            raise EmbeddingError("test: endpoint down", kind="connection")
        return [np.asarray(self.table[text], dtype=np.float32) for text in texts]

    async def aclose(self) -> None:
        return None

    @property
    def texts(self) -> list[str]:
        """Every text embedded, in order."""
        return [text for request in self.requests for text in request]
