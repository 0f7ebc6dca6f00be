"""Chunking plans re-cut the same bytes (CRLF aside) and keep timing; every plan decodes the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.cassettes.chunking import PLANS, parse_plan, plan_chunks, to_crlf
from simulator.cassettes.format import load_cassette
from simulator.cassettes.sse import decode_events, split_frames

ROOT = Path(__file__).resolve().parents[2]
ALL_PLANS = [
    "recorded",
    "event",
    "bytes:1",
    "bytes:7",
    "bytes:4096",
    "split-utf8",
    "split-lines",
    "crlf",
    "crlf+event",
    "crlf+split-lines",
]


def _recorded(name: str = "text-plain") -> list[tuple[float, bytes]]:
    response = load_cassette(ROOT / "cassettes" / f"{name}.yaml").interactions[0].response
    return [(c.offset, c.data) for c in response.chunks]


def _cut_positions(chunks) -> list[int]:
    positions, total = [], 0
    for chunk in chunks[:-1]:
        total += len(chunk.data)
        positions.append(total)
    return positions


@pytest.mark.parametrize("plan", ALL_PLANS)
def test_every_plan_decodes_to_the_same_events(plan: str) -> None:
    recorded = _recorded()
    raw = b"".join(d for _, d in recorded)
    played = plan_chunks(recorded, plan, None)
    replayed = b"".join(c.data for c in played)
    expected_raw = b"".join(d for _, d in to_crlf(recorded)) if "crlf" in plan else raw
    assert replayed == expected_raw
    assert decode_events(replayed) == decode_events(raw)
    assert all(c.data for c in played)


def test_recorded_keeps_the_recorded_boundaries() -> None:
    recorded = _recorded()
    played = plan_chunks(recorded, "recorded", None)
    assert [c.data for c in played] == [d for _, d in recorded]


def test_event_plan_sends_one_frame_per_chunk() -> None:
    played = plan_chunks(_recorded(), "event", None)
    for chunk in played:
        frames = split_frames(chunk.data)
        assert len(frames) == 1 and chunk.data.endswith(b"\n\n")
    assert played[0].data == b": OPENROUTER PROCESSING\n\n"


def test_bytes_plan_sends_n_bytes_per_chunk() -> None:
    played = plan_chunks(_recorded(), "bytes:7", None)
    assert all(len(c.data) == 7 for c in played[:-1]) and 1 <= len(played[-1].data) <= 7


def test_split_utf8_cuts_only_inside_multibyte_characters() -> None:
    played = plan_chunks(_recorded(), "split-utf8", None)
    raw = b"".join(c.data for c in played)
    cuts = _cut_positions(played)
    assert len(cuts) > 10
    for cut in cuts:  # the byte after every cut is a UTF-8 continuation byte
        assert raw[cut] & 0xC0 == 0x80
    for chunk in played[1:-1]:
        with pytest.raises(UnicodeDecodeError):
            chunk.data.decode("utf-8")


def test_split_utf8_falls_back_to_events_when_all_ascii() -> None:
    recorded = [(0.1, b'data: {"a":1}\n\n'), (0.2, b"data: [DONE]\n\n")]
    assert [c.data for c in plan_chunks(recorded, "split-utf8", None)] == [d for _, d in recorded]


def test_split_lines_cuts_inside_data_lines_including_between_data_and_colon() -> None:
    played = plan_chunks(_recorded(), "split-lines", None)
    raw = b"".join(c.data for c in played)
    cuts = _cut_positions(played)
    assert any(c.data.endswith(b"data") for c in played)
    assert any(c.data.startswith(b":") and not c.data.startswith(b": OPEN") for c in played)
    for cut in cuts:
        line_start = max(raw.rfind(b"\n", 0, cut), raw.rfind(b"\r", 0, cut)) + 1
        assert raw.startswith(b"data", line_start), raw[line_start:cut]
        assert raw[cut : cut + 1] not in (b"\n", b"\r")


def test_crlf_rewrites_every_line_end() -> None:
    played = plan_chunks(_recorded(), "crlf", None)
    raw = b"".join(c.data for c in played)
    assert raw.count(b"\n") == raw.count(b"\r\n") > 0
    assert len(played) == len(_recorded())  # crlf alone keeps the recorded cuts
    # A CR ending one chunk and an LF starting the next are already a CRLF.
    assert to_crlf([(0, b"a\r"), (0, b"\nb\n")]) == [(0, b"a\r"), (0, b"\nb\r\n")]


def test_instant_replay_has_no_delays() -> None:
    assert all(c.delay == 0 for c in plan_chunks(_recorded(), "event", None))


@pytest.mark.parametrize("speed", [1.0, 2.0, 0.5])
def test_speed_scales_recorded_timing(speed: float) -> None:
    recorded = _recorded()
    played = plan_chunks(recorded, "recorded", speed)
    assert [round(c.delay, 6) for c in played] == [
        round((offset - (recorded[i - 1][0] if i else 0.0)) / speed, 6)
        for i, (offset, _) in enumerate(recorded)
    ]
    assert sum(c.delay for c in played) == pytest.approx(recorded[-1][0] / speed)


def test_recut_chunks_leave_when_their_last_byte_arrived() -> None:
    recorded = [(0.1, b"abcd"), (0.5, b"efgh")]
    played = plan_chunks(recorded, "bytes:3", 1.0)
    assert [c.data for c in played] == [b"abc", b"def", b"gh"]
    assert [round(c.delay, 6) for c in played] == [0.1, 0.4, 0.0]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bogus", "unknown chunking plan 'bogus'"),
        ("bytes:0", "bytes:N needs a whole number N >= 1"),
        ("bytes:x", "bytes:N needs a whole number"),
        ("event+bytes:3", "only one cut allowed"),
    ],
)
def test_bad_plans_are_rejected_clearly(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_plan(spec)


def test_plan_names_round_trip_and_bad_speed() -> None:
    for spec in ["recorded", "event", "bytes:5", "split-utf8", "split-lines", "crlf+bytes:3"]:
        assert parse_plan(spec).name == spec
    assert parse_plan("crlf").name == "crlf+recorded"
    assert "crlf" in PLANS
    with pytest.raises(ValueError, match="speed must be > 0"):
        plan_chunks(_recorded(), "event", 0)
