"""`orsim bench simulator` runs end to end on a small stream (numbers are printed, not asserted)."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from simulator.bench.simulator import bench_cassette, cli_main, stream_chunks
from simulator.cassettes.sse import decode_events


def test_bench_stream_has_exactly_the_requested_events() -> None:
    events = decode_events(b"".join(stream_chunks(50)))
    assert len(events) == 51 and events[-1] == "[DONE]"
    assert [e["sequence_number"] for e in events[:-1]] == list(range(50))
    response = bench_cassette(50).interactions[0].response
    assert len(response.chunks) == 52  # keep-alive + 50 events + [DONE], one per chunk


def test_bench_prints_rates_and_ttfb_for_each_level() -> None:
    out = StringIO()
    assert cli_main([1, 2], 50, 4, Console(file=out, width=200)) == 0
    text = out.getvalue()
    assert "instant replay of a 50-event stream" in text
    assert "events per server-CPU-second" in text or "events per" in text
    lines = [line for line in text.splitlines() if line.strip().startswith("│")]
    assert len(lines) == 2  # one row per client level


def test_bench_rejects_bad_arguments() -> None:
    out = StringIO()
    assert cli_main([0], 50, 4, Console(file=out)) == 2
    assert "--clients >= 1" in out.getvalue()
