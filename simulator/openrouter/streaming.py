"""Turn an event list (plus physics and in-stream faults) into timed socket writes, and apply
the faults that also make sense on recorded chunks (disconnect after N events)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from simulator.cassettes.played import PlayedChunk
from simulator.openrouter import failure, synth
from simulator.openrouter.faults import Fault
from simulator.openrouter.physics import Physics

MALFORMED_FRAME = b'data: {"type":"response.output_text.delta","sequence_number":\n\n'


def render_stream(
    events: list[dict[str, Any]],
    physics: Physics,
    faults: Sequence[Fault] = (),
    *,
    keepalives: int = 1,
) -> list[PlayedChunk]:
    """Keep-alive comments, one chunk per event (timed by physics), then `data: [DONE]`,
    with in-stream faults applied at event positions of the original list."""
    delays = physics.event_delays(events)
    frames = [synth.encode_event(e) for e in events]
    inserts: dict[int, list[PlayedChunk]] = {}
    cut: int | None = None
    tail: list[PlayedChunk] = []
    done = True
    for f in faults:
        if f.kind in ("error_event", "nested_error", "failed"):
            n = min(f.after_or(2), len(events))
            if f.kind == "error_event":
                ev = synth.error_event(
                    f.message or "Internal server error",
                    code=f.code or "server_error",
                    sequence_number=n,
                )
            elif f.kind == "nested_error":
                ev = synth.nested_error_event(
                    f.message or "Internal server error",
                    code=f.code or "server_error",
                    sequence_number=n,
                )
            else:
                ev = failure.failed_event(events, n, **fault_error(f))
            cut, tail = n, [PlayedChunk(0.0, synth.encode_event(ev))]
        elif f.kind == "disconnect":
            cut, tail, done = min(f.after_or(3), len(events)), [], False
        elif f.kind == "malformed":
            inserts.setdefault(f.after_or(2), []).append(PlayedChunk(0.0, MALFORMED_FRAME))
        elif f.kind == "keepalive":
            count = max(1, f.comments)
            gap = (f.seconds or 0.0) / count
            inserts.setdefault(f.after_or(0), []).extend(
                PlayedChunk(gap, synth.KEEPALIVE) for _ in range(count)
            )
    out = [PlayedChunk(d, synth.KEEPALIVE) for d in physics.keepalive_delays()]
    out += [PlayedChunk(0.0, synth.KEEPALIVE)] * max(0, keepalives - len(out))
    last = len(events) if cut is None else cut
    for n in range(last):
        out.extend(inserts.get(n, ()))
        out.append(PlayedChunk(delays[n], frames[n]))
    out.extend(inserts.get(last, ()))
    out.extend(tail)
    if done:
        out.append(PlayedChunk(0.0, synth.DONE))
    return out


_FRAME_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def cut_after_events(chunks: list[PlayedChunk], n: int) -> list[PlayedChunk]:
    """Keep recorded chunks up to the end of the N-th `data:` frame (a mid-stream disconnect);
    a chunk that straddles the cut is split there."""
    buf = b"".join(c.data for c in chunks)
    seen, pos, cut_at = 0, 0, None
    for m in _FRAME_END.finditer(buf):
        frame = buf[pos : m.start()]
        pos = m.end()
        if any(line.startswith(b"data:") for line in frame.splitlines()):
            if frame.strip() == b"data: [DONE]":
                continue
            seen += 1
            if seen == n:
                cut_at = pos
                break
    if cut_at is None:
        cut_at = len(buf)
    out, offset = [], 0
    for c in chunks:
        if offset >= cut_at:
            break
        keep = c.data[: cut_at - offset]
        out.append(PlayedChunk(c.delay, keep))
        offset += len(c.data)
    return out


def fault_error(fault: Fault) -> dict[str, str]:
    """The in-band error an `error_event` / `nested_error` / `failed` fault reports."""
    return {
        "code": fault.code or "server_error",
        "message": fault.message or "Provider returned error",
        "error_type": fault.error_type or "provider_unavailable",
    }
