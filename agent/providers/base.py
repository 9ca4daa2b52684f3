"""The provider interface every model backend implements."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

from agent.request import ModelRequest, ProviderEvent
from config import ProviderSettings


class ModelProvider(Protocol):
    """A streaming model backend (Anthropic, OpenAI, any OpenAI-compatible server)."""

    name: str

    def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        """Send ``request`` and yield text deltas, then tool calls, then one ``ResponseDone``.

        Raises:
            ProviderError: for every failure, translated from the SDK's exceptions.
        """
        ...

    async def aclose(self) -> None:
        """Release the HTTP client."""
        ...

    async def probe(self) -> None:
        """Check that the endpoint answers, with a free call (listing models), no completion.

        Used by the heartbeat, which limits how often it calls this.

        Raises:
            ProviderError: The endpoint could not be reached or refused the credentials.
        """
        ...


def retry_after_seconds(headers: object) -> float | None:
    """Parse a ``retry-after`` (or ``retry-after-ms``) header value from a headers mapping."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    ms = get("retry-after-ms")
    if ms is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    raw = get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def kind_for_status(status: int) -> tuple[str, bool]:
    """Map an HTTP status to our error kind and whether it is worth retrying."""
    if status == 429:
        return "rate_limit", True
    if status == 529:
        return "overloaded", True
    if status in (401, 403):
        return "auth", False
    if status == 408:
        return "timeout", True
    if status >= 500:
        return "server", True
    return "bad_request", False


def parse_tool_arguments(raw: str) -> dict[str, Any]:
    """The JSON object a model streamed as a tool call's arguments.

    A model may send malformed JSON; it is passed on under ``__invalid_json__`` so that the
    executor reports the bad arguments back to the model instead of failing the turn.
    """
    try:
        parsed = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {"__invalid_json__": raw}
    return parsed if isinstance(parsed, dict) else {"__invalid_json__": raw}


def client_options(settings: ProviderSettings) -> dict[str, Any]:
    """The SDK client's keyword arguments for a configured provider (a key or base URL left
    unset lets the SDK read its own environment variable)."""
    options: dict[str, Any] = {
        "timeout": settings.timeout.total_seconds(),
        "max_retries": settings.max_retries,
    }
    if settings.api_key is not None:
        options["api_key"] = settings.api_key.get_secret_value()
    if settings.base_url is not None:
        options["base_url"] = settings.base_url
    return options
