"""Long-term memory: facts per person, chat and workspace, found again by keywords and meaning.

- :mod:`.records`: the values (memories, owners, vectors).
- :mod:`.embedder`: the :class:`Embedder` protocol and the (model, content hash) cache before it.
- :mod:`.openai_embedder`: any OpenAI-compatible ``/v1/embeddings`` endpoint.
- :mod:`.vectors`: exact cosine search with NumPy.
- :mod:`.ranking`: BM25 and cosine fused, recency and importance, near-duplicates collapsed.
- :mod:`.hybrid`: the search the tools and the runtime use, over a :class:`MemoryRepository`.
- :mod:`.extraction`: durable facts distilled from finished conversations.

The SQLite implementation of the repository is ``bot/store/memories.py``.
"""

from agent.memory.embedder import Embedder, EmbeddingCache, EmbeddingError, Embeddings
from agent.memory.hybrid import HybridMemories, MemoryRepository
from agent.memory.ranking import Candidate, Scored, rank
from agent.memory.records import Memory, MemoryScope, NewMemory, Owner, Vector, content_hash
from agent.memory.vectors import NumpyVectorIndex

__all__ = [
    "Candidate",
    "Embedder",
    "EmbeddingCache",
    "EmbeddingError",
    "Embeddings",
    "HybridMemories",
    "Memory",
    "MemoryRepository",
    "MemoryScope",
    "NewMemory",
    "NumpyVectorIndex",
    "Owner",
    "Scored",
    "Vector",
    "content_hash",
    "rank",
]
