"""Common machinery of the scripted model fakes (script queues, ids, recording)."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from .base import FakeServer, RecordedRequest
from .script import Script, ScriptBook

ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
"""HTTP status used when an error ``type`` must be turned into a plain HTTP error."""


class ScriptedFake(FakeServer):
    """A :class:`FakeServer` that answers model calls from a :class:`ScriptBook`."""

    chat_paths: ClassVar[frozenset[str]] = frozenset()
    """Paths of the model-call endpoints (used by :meth:`chat_requests`)."""

    def __init__(self) -> None:
        super().__init__()
        self.usages: list[dict[str, Any]] = []
        """Usage reported for each answered model request (API errors report none)."""
        self._book = ScriptBook()
        self._counters: dict[str, itertools.count[int]] = {}

    def script(self, *items: Script) -> None:
        """Queue replies/errors, consumed one per model request in FIFO order."""
        self._book.add(items)

    def script_for(self, marker: str, *items: Script) -> None:
        """Queue items used when the last user text contains ``marker`` (checked first)."""
        self._book.add_for(marker, items)

    def pending_scripts(self) -> int:
        """Number of scripted items not consumed yet."""
        return self._book.pending()

    def chat_requests(self) -> list[RecordedRequest]:
        """Recorded model-call requests only (including those answered with faults)."""
        return [r for r in self.requests if r.method == "POST" and r.path in self.chat_paths]

    def next_id(self, prefix: str) -> str:
        """Return ``prefix`` + a per-prefix counter starting at 1 (``msg_1``, ``toolu_1``)."""
        counter = self._counters.setdefault(prefix, itertools.count(1))
        return f"{prefix}{next(counter)}"

    def next_script(self, body: dict[str, Any]) -> Script:
        """The script answering a request with this JSON body."""
        return self._book.next_for(body.get("messages"))
