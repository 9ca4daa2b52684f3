"""The SSE decoder: events are the same however the transport splits the bytes."""

from __future__ import annotations

import json

import pytest

from agent.providers.sse import ServerSentEvent, SSEDecoder
from tests.unit.agent.providers.recorded_stream import RECORDED


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def test_the_recorded_stream_decodes_to_its_events() -> None:
    events = decode(RECORDED)
    assert [e.event for e in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert json.loads(events[3].data)["delta"]["text"] == "Zeit in 東京: "
    assert all(json.loads(e.data)["type"] == e.event for e in events)


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_a_split_at_every_byte_gives_the_same_events(ending: bytes) -> None:
    raw = RECORDED.replace(b"\n", ending)
    whole = decode(raw)
    assert len(whole) == 11
    assert whole == decode(RECORDED)
    for cut in range(len(raw) + 1):
        assert decode(raw[:cut], raw[cut:]) == whole, f"split at byte {cut}"
    assert decode(*(raw[i : i + 1] for i in range(len(raw)))) == whole  # one byte at a time


def test_comments_fields_and_multi_line_data() -> None:
    raw = (
        b"\xef\xbb\xbf: a keep-alive comment\r\n"
        b"event: first\r\n"
        b"data:no space after the colon\r\n"
        b"data:  two spaces, one kept\r\n"
        b"data\r\n"  # a field without a colon: an empty value
        b": between data lines\r\n"
        b"id: 7\r\n"
        b"retry: 1000\r\n"
        b"unknown: ignored\r\n"
        b"\r\n"
        b"data: {}\n\n"
    )
    assert decode(raw) == [
        ServerSentEvent("first", "no space after the colon\n two spaces, one kept\n", "7"),
        ServerSentEvent("message", "{}", "7"),  # no event name: "message"; the id carries over
    ]


def test_events_without_data_and_unfinished_events_are_not_dispatched() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: ping\n\n: just a comment\n\n\n") == []
    # The event name of an event without data does not leak into the next event.
    assert decoder.feed(b"data: x\n\n") == [ServerSentEvent("message", "x")]
    assert decoder.feed(b"event: error\ndata: {}") == []  # no blank line yet
    assert decoder.feed(b"\n") == []  # the data line is complete, the event is not
    assert decoder.feed(b"\n") == [ServerSentEvent("error", "{}")]
    assert decoder.feed(b"event: message_stop\ndata: {}\n") == []  # cut here: never dispatched


def test_an_error_event_decodes_with_its_payload() -> None:
    raw = (
        b"event: error\n"
        b'data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
        b"\n\n"
    )
    (event,) = decode(raw)
    assert event.event == "error"
    assert json.loads(event.data)["error"]["type"] == "overloaded_error"
