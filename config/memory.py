"""The ``memory:`` section: long-term memory recall, ranking, embeddings and extraction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.durations import Duration
from config.errors import ConfigError, key_error
from config.models import ProviderSettings


class EmbedderSettings(BaseModel):
    """Where embeddings come from: an OpenAI-compatible ``/v1/embeddings`` endpoint.

    Attributes:
        provider: Name of a provider of kind ``openai`` in ``models.providers`` (its base URL, key,
            timeout and retries are used).
        model: The embedding model, e.g. ``text-embedding-3-small`` or ``nomic-embed-text``.
        dimensions: Ask for vectors of this size (only models that support it, such as
            ``text-embedding-3-*``); None leaves the model's own size.
        batch_size: Texts per request at most.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    dimensions: int | None = Field(default=None, gt=0)
    batch_size: int = Field(default=64, ge=1, le=2048)


class WeightSettings(BaseModel):
    """How vector similarity and keyword (BM25) relevance are mixed; they are scaled to sum 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vector: float = Field(default=0.7, ge=0)
    keyword: float = Field(default=0.3, ge=0)

    @model_validator(mode="after")
    def _not_both_zero(self) -> Self:
        if self.vector + self.keyword <= 0:
            raise key_error(("keyword",), "vector and keyword weights must not both be 0")
        return self


class RecencySettings(BaseModel):
    """The recency factor: ``floor + (1 - floor) * 0.5 ** (age / half_life)``.

    Age counts from the memory's last use (or its creation).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    half_life: Duration = timedelta(days=90)
    floor: float = Field(default=0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _half_life_positive(self) -> Self:
        if self.half_life <= timedelta(0):
            raise key_error(("half_life",), "must be longer than 0s")
        return self


class ExtractionSettings(BaseModel):
    """Durable facts distilled from finished conversations by a (fast) model.

    Attributes:
        enabled: Whether the pruning job extracts facts at all.
        tier: The tier that reads the conversation (the default profile's tier when it is
            missing).
        idle: A conversation quiet this long has its new turns read.
        every_turns: A busy conversation is read once this many new turns piled up.
        max_sessions: Conversations read per pruning pass at most (bounds the cost of a pass).
        max_facts: Facts kept from one reading at most.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    tier: str = "fast"
    idle: Duration = timedelta(hours=1)
    every_turns: int = Field(default=20, ge=1)
    max_sessions: int = Field(default=10, ge=1)
    max_facts: int = Field(default=5, ge=1, le=50)


class MemorySettings(BaseModel):
    """The ``memory:`` section.

    Attributes:
        recall: Put the best matching memories into every turn's prompt (volatile part).
        embedder: The embeddings endpoint; without one, memory is keyword-only (SQLite FTS5).
        weights: Mix of vector and keyword relevance.
        recency: How age lowers a memory's score.
        min_score: Memories scoring lower are not recalled.
        top_k: Memories recalled before a turn at most.
        recall_tokens: Token budget of the recalled memories in one prompt (about 4 characters a
            token).
        recall_timeout: Limit on embedding the message before a turn; past it, recall falls back
            to keywords.
        duplicate_similarity: Results at least this similar (cosine of their vectors) to a better
            one are left out, as are near-identical texts.
        vector_search: ``numpy`` (the default: scope vectors held in memory, least recently used
            scopes dropped past a bound; fastest), ``sqlite-vec`` (inside SQLite: no memory but
            ~50× slower at 100,000 memories, docs/PERFORMANCE.md; needs the ``vector`` extra and
            a Python that loads SQLite extensions) or ``auto`` (sqlite-vec when it is installed
            and loads, else NumPy).
        extraction: Facts distilled from finished conversations.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    recall: bool = True
    embedder: EmbedderSettings | None = None
    weights: WeightSettings = Field(default_factory=WeightSettings)
    recency: RecencySettings = Field(default_factory=RecencySettings)
    min_score: float = Field(default=0.2, ge=0)
    top_k: int = Field(default=5, ge=1, le=50)
    recall_tokens: int = Field(default=400, ge=1)
    recall_timeout: Duration = timedelta(seconds=2)
    duplicate_similarity: float = Field(default=0.95, gt=0, le=1)
    vector_search: Literal["auto", "numpy", "sqlite-vec"] = "numpy"
    extraction: ExtractionSettings = Field(default_factory=ExtractionSettings)


def check_embedder(memory: MemorySettings, providers: Mapping[str, ProviderSettings]) -> None:
    """Fail when ``memory.embedder`` names no OpenAI-compatible provider of ``models.providers``.

    Raises:
        ConfigError: Naming ``memory.embedder.provider``.
    """
    embedder = memory.embedder
    if embedder is None:
        return
    provider = providers.get(embedder.provider)
    if provider is None:
        configured = ", ".join(providers) or "none"
        raise ConfigError(
            "memory.embedder.provider",
            f'unknown provider "{embedder.provider}" (configured: {configured})',
        )
    if provider.kind != "openai":
        raise ConfigError(
            "memory.embedder.provider",
            f'"{embedder.provider}" is of kind {provider.kind}; embeddings need an '
            "OpenAI-compatible provider (kind: openai)",
        )
