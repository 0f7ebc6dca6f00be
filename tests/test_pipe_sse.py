"""The incremental SSE decoder under every chunking of a byte stream."""

from __future__ import annotations

import itertools
import random

import pytest

from pipe.sse import SSEDecoder, SSEMessage

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
