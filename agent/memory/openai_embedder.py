"""Embeddings from any OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, Ollama, vLLM, ...).

Besides ``agent/providers/openai.py``, the only module that imports ``openai``; the SDK's errors are
translated into :class:`EmbeddingError` here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx2
import numpy as np
import openai

from agent.memory.embedder import EmbeddingError
from agent.memory.records import Vector
from agent.providers.base import client_options, kind_for_status
from config import ProviderSettings
from config.memory import EmbedderSettings


class OpenAIEmbedder:
    """An embedding model behind an OpenAI-compatible endpoint.

    Args:
        provider: Name of the provider in ``models.providers`` (part of :attr:`model`).
        connection: That provider's base URL, key, timeout and retries.
        settings: ``memory.embedder``.
    """

    def __init__(
        self, provider: str, connection: ProviderSettings, settings: EmbedderSettings
    ) -> None:
        self._settings = settings
        size = f"@{settings.dimensions}" if settings.dimensions else ""
        self.model = f"{provider}:{settings.model}{size}"
        self._client = openai.AsyncOpenAI(**client_options(connection))

    async def aclose(self) -> None:
        """Close the SDK's HTTP client."""
        await self._client.close()

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        """See :meth:`agent.memory.embedder.Embedder.embed`."""
        extra: dict[str, Any] = {}
        if self._settings.dimensions is not None:
            extra["dimensions"] = self._settings.dimensions
        try:
            # Floats, not the SDK's default base64: not every compatible server speaks base64.
            answer = await self._client.embeddings.create(
                model=self._settings.model, input=list(texts), encoding_format="float", **extra
            )
        except openai.APIStatusError as exc:
            kind, _retryable = kind_for_status(exc.status_code)
            raise EmbeddingError(f"{self.model}: HTTP {exc.status_code}", kind=kind) from exc
        except openai.APITimeoutError as exc:
            raise EmbeddingError(f"{self.model}: request timed out", kind="timeout") from exc
        except (openai.APIError, httpx2.TransportError) as exc:
            raise EmbeddingError(
                f"{self.model}: connection failed ({type(exc).__name__})", kind="connection"
            ) from exc
        ordered = sorted(answer.data, key=lambda item: item.index)
        return [np.asarray(item.embedding, dtype=np.float32) for item in ordered]
