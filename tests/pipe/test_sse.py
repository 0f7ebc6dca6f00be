"""The incremental SSE decoder under every chunking of a byte stream."""

from __future__ import annotations

import itertools
import random

import pytest

from pipe.sse import SSEDecoder, SSEMessage
from pipe.wire import (
    EventDecodeError,
    ReasoningDeltaEvent,
    TextDeltaEvent,
    UnknownEvent,
    decode_event,
)

STREAM = (
    ": OPENROUTER PROCESSING\n\n"
    'data: {"type":"a","delta":"héllo 🌍"}\n\n'
    "event: response.output_text.delta\n"
    'data: {"type":"b",\n'
    'data: "x":"ünïcode ✓"}\n\n'
    ": keep-alive\n\n"
    "id: 7\nretry: 100\n"
    "data:no-space\n\n"
    "data: [DONE]\n\n"
).encode()

EXPECTED = [
    SSEMessage('{"type":"a","delta":"héllo 🌍"}'),
    SSEMessage('{"type":"b",\n"x":"ünïcode ✓"}', "response.output_text.delta"),
    SSEMessage("no-space"),
    SSEMessage("[DONE]"),
]


def decode(chunks: list[bytes]) -> list[SSEMessage]:
    decoder = SSEDecoder()
    out: list[SSEMessage] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    out.extend(decoder.flush())
    return out


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_every_single_cut_point(line_end):
    data = STREAM.decode().replace("\n", line_end).encode()
    for cut in range(len(data) + 1):
        assert decode(split_at(data, [cut])) == EXPECTED, (line_end, cut)


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_every_pair_of_cut_points_near_multibyte_and_crlf(line_end):
    data = STREAM.decode().replace("\n", line_end).encode()
    # all pairs over a window around the emoji and the CRLF boundaries keep this fast
    start = data.index("🌍".encode()) - 3
    window = range(start, min(len(data), start + 40))
    for a, b in itertools.combinations(window, 2):
        assert decode(split_at(data, [a, b])) == EXPECTED


def test_byte_by_byte_and_random_chunkings():
    assert decode([bytes([b]) for b in STREAM]) == EXPECTED
    rng = random.Random(42)
    for _ in range(300):
        cuts = rng.sample(range(1, len(STREAM)), rng.randint(1, 30))
        assert decode(split_at(STREAM, cuts)) == EXPECTED


def test_message_without_trailing_blank_line_is_flushed_at_eof():
    assert decode([b'data: {"x":1}']) == [SSEMessage('{"x":1}')]
    assert decode([b'data: {"x":1}\n']) == [SSEMessage('{"x":1}')]


def test_comment_only_stream_yields_nothing():
    assert decode([b": a\n\n: b\n\n"]) == []


def test_cr_at_chunk_end_then_lf_is_one_line_end():
    assert decode([b"data: 1\r", b"\n\r", b"\n"]) == [SSEMessage("1")]


def test_invalid_utf8_is_replaced_not_fatal():
    out = decode([b"data: \xff\xfe ok\n\n"])
    assert out[0].data.endswith(" ok")


# -- the one-event-per-read fast path must agree with the general decoder


def per_event_reads(data: bytes) -> list[bytes]:
    """How OpenRouter writes: one read per event, each ending in its blank line."""
    return [frame + b"\n\n" for frame in data.split(b"\n\n") if frame]


def test_one_event_per_read_matches_the_general_path():
    assert decode(per_event_reads(STREAM)) == EXPECTED


def test_fast_path_respects_state_left_by_earlier_reads():
    # an `event:` line in its own read applies to the next data read
    assert decode([b"event: response.x\n", b"data: 1\n\n", b"data: 2\n\n"]) == [
        SSEMessage("1", "response.x"),
        SSEMessage("2"),
    ]
    # a data line still open from the previous read joins the next one
    assert decode([b"data: a\n", b"data: b\n\n"]) == [SSEMessage("a\nb")]
    # a CR at the end of a read: its LF starts the next one
    assert decode([b"data: 1\r", b"\n\r\n", b"data: 2\n\n"]) == [SSEMessage("1"), SSEMessage("2")]
    assert decode([b"data: 1\r\n\r", b"\n", b"data: 2\n\n"]) == [SSEMessage("1"), SSEMessage("2")]
    # a character split across reads, then a whole event
    emoji = "🌍".encode()
    assert decode([b"data: " + emoji[:2], emoji[2:] + b"\n\n", b"data: x\n\n"]) == [
        SSEMessage("🌍"),
        SSEMessage("x"),
    ]


def test_fast_path_hands_odd_reads_to_the_general_path():
    assert decode([b"data: a\r\n\r\n"]) == [SSEMessage("a")]
    assert decode([b"data: a\ndata: b\n\n"]) == [SSEMessage("a\nb")]
    assert decode([b"data: a\n\ndata: b\n\n"]) == [SSEMessage("a"), SSEMessage("b")]
    assert decode([b"data: \xff ok\n\n"])[0].data.endswith(" ok")  # invalid UTF-8: replaced


# -- decode_event: deltas on the hot path, everything else validated


def test_text_and_reasoning_deltas_decode_to_delta_events():
    event = decode_event(
        '{"type":"response.output_text.delta","item_id":"msg_1","output_index":2,'
        '"content_index":0,"sequence_number":9,"delta":"Hé","logprobs":[]}'
    )
    assert isinstance(event, TextDeltaEvent)
    assert (event.type, event.item_id, event.delta) == ("response.output_text.delta", "msg_1", "Hé")
    assert (event.output_index, event.sequence_number) == (2, 9)
    reasoning = decode_event(b'{"type":"response.reasoning_summary_text.delta","delta":"hm"}')
    assert isinstance(reasoning, ReasoningDeltaEvent)
    assert (reasoning.item_id, reasoning.delta, reasoning.output_index) == (None, "hm", 0)
    refusal = decode_event('{"type":"response.refusal.delta","item_id":"m","delta":"no"}')
    assert isinstance(refusal, TextDeltaEvent) and refusal.delta == "no"
    assert decode_event('{"type":"response.output_text.delta"}').delta == ""


def test_delta_with_lenient_fields_is_validated_like_other_events():
    event = decode_event(
        '{"type":"response.output_text.delta","item_id":"m","delta":"x","output_index":"3"}'
    )
    assert isinstance(event, TextDeltaEvent) and event.delta == "x"
    # an item id that is not a string gets the model's validation (and fails it)
    bad = decode_event('{"type":"response.output_text.delta","item_id":7,"delta":"x"}')
    assert isinstance(bad, UnknownEvent)
    # a delta that is not text is tolerated as an unknown event, never shown
    assert isinstance(decode_event('{"type":"response.output_text.delta","delta":5}'), UnknownEvent)


def test_delta_events_compare_by_value():
    a = decode_event('{"type":"response.output_text.delta","item_id":"m","delta":"x"}')
    b = decode_event(
        '{"type":"response.output_text.delta","item_id":"m","delta":"x","sequence_number":4}'
    )
    c = decode_event('{"type":"response.output_text.delta","item_id":"m","delta":"y"}')
    assert a == b and a != c and "delta='x'" in repr(a)


@pytest.mark.parametrize("payload", ["{", "[1]", '"x"', '{"delta":"x"}', '{"type":[1]}'])
def test_bad_payloads_raise_decode_errors(payload):
    with pytest.raises(EventDecodeError):
        decode_event(payload)
