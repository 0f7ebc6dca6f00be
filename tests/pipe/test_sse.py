"""The incremental SSE decoder under every chunking of a byte stream."""

from __future__ import annotations

import itertools
import random

import pytest

from pipe.sse import SSEDecoder
from pipe.stream_events import (
    DecodedRead,
    ErrorEvent,
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
    '{"type":"a","delta":"héllo 🌍"}',
    '{"type":"b",\n"x":"ünïcode ✓"}',
    "no-space",
    "[DONE]",
]


def decode(chunks: list[bytes]) -> list[str]:
    decoder = SSEDecoder()
    out: list[str] = []
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
    assert decode([b'data: {"x":1}']) == ['{"x":1}']
    assert decode([b'data: {"x":1}\n']) == ['{"x":1}']


def test_comment_only_stream_yields_nothing():
    assert decode([b": a\n\n: b\n\n"]) == []


def test_cr_at_chunk_end_then_lf_is_one_line_end():
    assert decode([b"data: 1\r", b"\n\r", b"\n"]) == ["1"]


def test_invalid_utf8_is_replaced_not_fatal():
    out = decode([b"data: \xff\xfe ok\n\n"])
    assert out[0].endswith(" ok")


# -- the one-event-per-read fast path must agree with the general decoder


def per_event_reads(data: bytes) -> list[bytes]:
    """How OpenRouter writes: one read per event, each ending in its blank line."""
    return [frame + b"\n\n" for frame in data.split(b"\n\n") if frame]


def test_one_event_per_read_matches_the_general_path():
    assert decode(per_event_reads(STREAM)) == EXPECTED


def test_fast_path_respects_state_left_by_earlier_reads():
    # an `event:` line in its own read is read and dropped (the type is in the data)
    assert decode([b"event: response.x\n", b"data: 1\n\n", b"data: 2\n\n"]) == [
        "1",
        "2",
    ]
    # a data line still open from the previous read joins the next one
    assert decode([b"data: a\n", b"data: b\n\n"]) == ["a\nb"]
    # a CR at the end of a read: its LF starts the next one
    assert decode([b"data: 1\r", b"\n\r\n", b"data: 2\n\n"]) == ["1", "2"]
    assert decode([b"data: 1\r\n\r", b"\n", b"data: 2\n\n"]) == ["1", "2"]
    # a character split across reads, then a whole event
    emoji = "🌍".encode()
    assert decode([b"data: " + emoji[:2], emoji[2:] + b"\n\n", b"data: x\n\n"]) == [
        "🌍",
        "x",
    ]


def test_fast_path_hands_odd_reads_to_the_general_path():
    assert decode([b"data: a\r\n\r\n"]) == ["a"]
    assert decode([b"data: a\ndata: b\n\n"]) == ["a\nb"]
    assert decode([b"data: a\n\ndata: b\n\n"]) == ["a", "b"]
    assert decode([b"data: \xff ok\n\n"])[0].endswith(" ok")  # invalid UTF-8: replaced


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


# -- reads of many events (a window's worth) must agree with the general decoder


BURST = b"".join(
    [b": OPENROUTER PROCESSING\n\n"]
    + [b'data: {"n":%d}\n\n' % n for n in range(12)]
    + [b": keep-alive\n\n", b'data: {"n":"\xc3\xa9"}\n\n', b"data: [DONE]\n\n"]
)
BURST_EXPECTED = [f'{{"n":{n}}}' for n in range(12)] + ['{"n":"é"}', "[DONE]"]


def test_many_event_reads_cut_anywhere_match_the_general_path():
    """A read that ends mid-line, mid-UTF-8 or just after a data line leaves state the next
    many-event read must finish first, then split the rest on blank lines."""
    for a, b in itertools.combinations(range(1, len(BURST)), 2):
        assert decode(split_at(BURST, [a, b])) == BURST_EXPECTED, (a, b)


def test_many_event_read_with_other_fields_takes_the_general_path():
    stream = b"data: 1\n\nid: 7\ndata: 2\n\ndata: a\ndata: b\n\n\n\ndata: 3\n\n"
    assert decode([stream]) == ["1", "2", "a\nb", "3"]
    assert decode([b"data: 1\n", b"\ndata: 2\n", b"data: 3\n\n"]) == ["1", "2\n3"]


# -- one read's events: deltas of the same item merged, everything else in order


def _delta(kind: str, item: str, text: str) -> str:
    return f'{{"type":"response.{kind}.delta","item_id":"{item}","delta":"{text}"}}'


def test_a_read_merges_consecutive_deltas_of_the_same_item_and_keeps_order():
    read = DecodedRead(
        [
            _delta("reasoning_summary_text", "r", "think "),
            _delta("reasoning_summary_text", "r", "more"),
            '{"type":"response.output_item.added","item":{"type":"message","id":"m"}}',
            _delta("output_text", "m", "a"),
            _delta("output_text", "m", "b"),
            _delta("output_text", "m2", "c"),
            _delta("refusal", "m2", "no"),
            _delta("output_text", "m2", "d"),
            '{"type":"response.function_call_arguments.delta","item_id":"f","delta":"{}"}',
            _delta("output_text", "m2", "e"),
        ]
    )
    assert [(e.type.split(".")[-2], getattr(e, "delta", None)) for e in read.events] == [
        ("reasoning_summary_text", "think more"),
        ("output_item", None),
        ("output_text", "ab"),
        ("output_text", "c"),
        ("refusal", "no"),
        ("output_text", "d"),
        ("function_call_arguments", "{}"),
        ("output_text", "e"),
    ]
    assert isinstance(read.events[0], ReasoningDeltaEvent)
    assert not (read.done or read.terminal or read.error or read.corrupt)


def test_a_read_stops_at_done_and_keeps_what_came_before_a_corrupt_payload():
    done = DecodedRead([_delta("output_text", "m", "a"), "[DONE]", _delta("output_text", "m", "b")])
    assert done.done and [e.delta for e in done.events] == ["a"]  # type: ignore[union-attr]
    corrupt = DecodedRead([_delta("output_text", "m", "a"), _delta("output_text", "m", "b"), "{"])
    assert isinstance(corrupt.corrupt, EventDecodeError)
    assert [e.delta for e in corrupt.events] == ["ab"]  # type: ignore[union-attr]


def test_a_read_reports_terminal_and_error_events():
    read = DecodedRead(
        [
            '{"type":"error","code":"x","message":"first"}',
            '{"type":"error","code":"y","message":"last"}',
            '{"type":"response.completed","response":{"id":"r","status":"completed"}}',
        ]
    )
    assert read.terminal and isinstance(read.error, ErrorEvent) and read.error.code == "y"
