"""Chunking plans and timing: how a recorded stream is cut into socket writes at replay.

A plan re-cuts the same bytes (only `crlf` changes them). Each new chunk is sent when its last
byte was recorded as arriving, so timing survives any cut; `speed` scales the delays
(2.0 = twice as fast) and `speed=None` replays instantly.

Plans (combine a line-end rewrite with a cut using `+`, e.g. `crlf+bytes:7`):
  recorded      the chunks as recorded
  event         one SSE frame (event or comment) per chunk
  bytes:N       N bytes per chunk
  split-utf8    cut inside every multi-byte UTF-8 character (falls back to `event` if none)
  split-lines   cut inside every `data:` line: between `data` and `:`, and mid-payload
  crlf          rewrite line ends to CRLF (keeps the recorded cuts unless combined)
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from simulator.cassettes.played import PlayedChunk
from simulator.cassettes.sse import split_frames

CUTS = ("recorded", "event", "bytes:N", "split-utf8", "split-lines")
PLANS = (*CUTS, "crlf")


@dataclass(frozen=True)
class ChunkingPlan:
    cut: str = "recorded"
    size: int = 0  # for `bytes`
    crlf: bool = False

    @property
    def name(self) -> str:
        cut = f"bytes:{self.size}" if self.cut == "bytes" else self.cut
        return f"crlf+{cut}" if self.crlf else cut


def parse_plan(spec: str | ChunkingPlan) -> ChunkingPlan:
    """Parse `recorded`, `event`, `bytes:N`, `split-utf8`, `split-lines`, `crlf` or `crlf+<cut>`."""
    if isinstance(spec, ChunkingPlan):
        return spec
    crlf = False
    cut: str | None = None
    size = 0
    for part in (p.strip() for p in str(spec).split("+")):
        if part == "crlf":
            crlf = True
        elif cut is not None:
            raise ValueError(
                f"chunking plan {spec!r}: only one cut allowed (got {cut!r}, {part!r})"
            )
        elif part in {"recorded", "event", "split-utf8", "split-lines"}:
            cut = part
        elif part.startswith("bytes:"):
            try:
                size = int(part.removeprefix("bytes:"))
            except ValueError:
                size = 0
            if size < 1:
                raise ValueError(f"chunking plan {spec!r}: bytes:N needs a whole number N >= 1")
            cut = "bytes"
        else:
            raise ValueError(f"unknown chunking plan {part!r}; choose from: {', '.join(PLANS)}")
    return ChunkingPlan(cut=cut or "recorded", size=size, crlf=crlf)


def to_crlf(chunks: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """Rewrite every bare LF to CRLF, chunk by chunk (a CR ending the previous chunk counts)."""
    out: list[tuple[float, bytes]] = []
    previous = b""
    for offset, data in chunks:
        converted = bytearray()
        for index, byte in enumerate(data):
            if byte == 0x0A:
                before = data[index - 1 : index] if index else previous[-1:]
                if before != b"\r":
                    converted += b"\r"
            converted.append(byte)
        out.append((offset, bytes(converted)))
        if data:
            previous = data
    return out


def _utf8_cuts(raw: bytes) -> list[int]:
    cuts: list[int] = []
    index = 0
    while index < len(raw):
        byte = raw[index]
        length = 4 if byte >= 0xF0 else 3 if byte >= 0xE0 else 2 if byte >= 0xC0 else 1
        if length > 1:
            cuts.extend(range(index + 1, min(index + length, len(raw))))
        index += length
    return cuts


def _data_line_cuts(raw: bytes) -> list[int]:
    cuts: list[int] = []
    line_start = 0
    while line_start < len(raw):
        end = len(raw)
        for terminator in (b"\n", b"\r"):
            found = raw.find(terminator, line_start)
            if found != -1:
                end = min(end, found)
        if raw.startswith(b"data:", line_start):
            cuts.append(line_start + 4)  # between `data` and `:`
            middle = line_start + 5 + (end - line_start - 5) // 2
            if line_start + 5 < middle < end:
                cuts.append(middle)
        line_start = end + 1
    return cuts


def cut_points(plan: ChunkingPlan, raw: bytes, recorded_ends: list[int]) -> list[int]:
    """Positions (exclusive ends) at which chunks end; always includes len(raw)."""
    if plan.cut == "recorded":
        cuts = recorded_ends
    elif plan.cut == "bytes":
        cuts = list(range(plan.size, len(raw), plan.size))
    elif plan.cut == "split-lines":
        cuts = _data_line_cuts(raw)
    elif plan.cut == "split-utf8":
        cuts = _utf8_cuts(raw) or [f.end for f in split_frames(raw)]
    else:  # event
        cuts = [f.end for f in split_frames(raw)]
    return sorted({c for c in cuts if 0 < c < len(raw)} | {len(raw)})


def plan_chunks(
    recorded: list[tuple[float, bytes]], plan: str | ChunkingPlan, speed: float | None
) -> list[PlayedChunk]:
    """Re-cut recorded `(offset, bytes)` chunks with `plan` and time them with `speed`."""
    plan = parse_plan(plan)
    if speed is not None and speed <= 0:
        raise ValueError(f"speed must be > 0 (or None for instant replay), got {speed}")
    chunks = to_crlf(recorded) if plan.crlf else list(recorded)
    raw = b"".join(data for _, data in chunks)
    if not raw:
        return []
    ends: list[int] = []
    offsets: list[float] = []
    position = 0
    for offset, data in chunks:
        if not data:
            continue
        position += len(data)
        ends.append(position)
        offsets.append(offset)
    played: list[PlayedChunk] = []
    start = 0
    previous_time = 0.0
    for end in cut_points(plan, raw, ends):
        # A piece can leave when its last byte had arrived.
        arrival = offsets[bisect.bisect_left(ends, end)]
        delay = 0.0 if speed is None else max(0.0, arrival - previous_time) / speed
        played.append(PlayedChunk(delay=delay, data=raw[start:end]))
        previous_time = max(previous_time, arrival)
        start = end
    return played
