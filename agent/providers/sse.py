"""A Server-Sent Events decoder: bytes in, events out, as the HTML standard's event-stream
interpretation describes (https://html.spec.whatwg.org/multipage/server-sent-events.html).

It is fed the body of a response chunk by chunk, wherever the transport happened to split it,
and holds back the unfinished line. No I/O and no SDK: the providers read the bytes themselves
and fold the decoded events.
"""

from __future__ import annotations

from typing import NamedTuple

_BOM = b"\xef\xbb\xbf"
_CR = 0x0D
_LF = 0x0A


class ServerSentEvent(NamedTuple):
    """One dispatched event (a named tuple: immutable, and the cheapest such value to build,
    one per streamed token).

    Attributes:
        event: the ``event:`` field, or ``"message"`` when the event named none.
        data: the ``data:`` lines joined by ``"\\n"``.
        id: the last event id seen so far in the stream (``""`` when none).
    """

    event: str
    data: str
    id: str = ""


class SSEDecoder:
    """Incremental decoder of one event stream.

    Lines may end in CRLF, LF or CR; lines starting with a colon are comments; a blank line
    dispatches the event gathered so far, unless it has no data. Whatever follows the last blank
    line when the stream ends is an unfinished event and is never dispatched (the standard says
    to discard it), so a cut stream cannot pass a half-received event off as whole.
    """

    def __init__(self) -> None:
        self._partial = b""  # the unfinished last line of the bytes fed so far
        self._after_cr = False  # the last line ended in CR: a LF that follows belongs to it
        self._first_line = True
        self._event = ""
        self._data: list[bytes] = []
        self._id = ""

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Take the next bytes of the stream; return the events they complete, in order."""
        events: list[ServerSentEvent] = []
        for line in self._lines(chunk):
            # The two fields every event of a model stream has come first (one event a token).
            if line.startswith(b"data: "):
                self._data.append(line[6:])
            elif line.startswith(b"event: "):
                self._event = line[7:].decode("utf-8", "replace")
            elif not line:
                if self._data:
                    events.append(self._dispatch())
                else:
                    self._event = ""
            elif line[0] != 0x3A:  # a colon first: a comment (keep-alives use them)
                self._field(line)
        return events

    def _lines(self, chunk: bytes) -> list[bytes]:
        """The lines that ``chunk`` completes, without their line endings."""
        if self._after_cr and chunk:
            self._after_cr = False
            if chunk[0] == _LF:
                chunk = chunk[1:]
        if not chunk:
            return []
        if self._partial:
            chunk = self._partial + chunk
        # bytes.splitlines() breaks at exactly CR, LF and CRLF (unlike str.splitlines()), the
        # three line endings of the standard; a UTF-8 sequence never contains either byte.
        lines = chunk.splitlines()
        last = chunk[-1]
        if last in (_LF, _CR):
            self._partial = b""
            self._after_cr = last == _CR
        else:
            self._partial = lines.pop()
        if self._first_line and lines:
            self._first_line = False
            if lines[0].startswith(_BOM):
                lines[0] = lines[0][len(_BOM) :]
        return lines

    def _field(self, line: bytes) -> None:
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id" and b"\0" not in value:
            self._id = value.decode("utf-8", "replace")
        # ``retry`` (the reconnection delay) and unknown fields are ignored: a model response is
        # never resumed by reconnecting, it is asked for again.

    def _dispatch(self) -> ServerSentEvent:
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event = ServerSentEvent(self._event or "message", data.decode("utf-8", "replace"), self._id)
        self._event = ""
        self._data = []
        return event
