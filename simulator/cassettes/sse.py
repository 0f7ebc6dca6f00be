"""Byte-level Server-Sent-Events framing: where frames start and end, and what each one is.

Works on raw bytes (never decoded text) so it can describe any recorded stream exactly, including
CRLF line ends, comment-only keep-alive frames, `[DONE]` and a truncated last frame.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class Frame:
    """One SSE frame: `data[start:end]` including its terminating blank line."""

    start: int
    end: int
    label: str  # the JSON `type`, or "comment", "done", "unknown" (non-JSON data), "empty"


def split_frames(data: bytes) -> list[Frame]:
    """Cut a stream into frames at blank lines (`\\n\\n`, `\\r\\n\\r\\n`, `\\r\\r`).

    Stray blank lines with no frame before them are attached to the previous frame; trailing
    bytes without a blank line form a last (truncated) frame.
    """
    spans: list[tuple[int, int]] = []
    frame_start = 0
    line_start = 0
    for match in _LINE_END.finditer(data):
        if match.start() == line_start:  # an empty line: the frame (if any) ends here
            if line_start == frame_start:
                if spans:  # stray blank line: belongs to the previous frame
                    spans[-1] = (spans[-1][0], match.end())
                    frame_start = match.end()
                # else: leading blank line, kept at the start of the first frame
            else:
                spans.append((frame_start, match.end()))
                frame_start = match.end()
        line_start = match.end()
    if frame_start < len(data):
        spans.append((frame_start, len(data)))
    return [Frame(s, e, label_frame(data[s:e])) for s, e in spans]


def frame_lines(frame: bytes) -> list[bytes]:
    return [line for line in _LINE_END.split(frame) if line]


def frame_data(frame: bytes) -> str | None:
    """The joined `data:` payload of a frame (as an SSE client sees it), or None if it has none."""
    parts: list[bytes] = []
    for line in frame_lines(frame):
        if line.startswith(b"data:"):
            value = line[5:]
            parts.append(value[1:] if value.startswith(b" ") else value)
    if not parts:
        return None
    return b"\n".join(parts).decode("utf-8", errors="replace")


def label_frame(frame: bytes) -> str:
    data = frame_data(frame)
    if data is None:
        lines = frame_lines(frame)
        return "comment" if lines and all(line.startswith(b":") for line in lines) else "empty"
    if data.startswith("[DONE]"):
        return "done"
    try:
        parsed = json.loads(data)
    except ValueError:
        return "unknown"
    if isinstance(parsed, dict) and isinstance(parsed.get("type"), str):
        return parsed["type"]
    return "unknown"


def decode_events(data: bytes) -> list[dict | str]:
    """Decode a whole stream the way an SSE client does: JSON payloads as dicts, `[DONE]` as the
    string "[DONE]", comments skipped. Used by tests and by the JSON-from-stream conversion."""
    events: list[dict | str] = []
    for frame in split_frames(data):
        payload = frame_data(data[frame.start : frame.end])
        if payload is None:
            continue
        if payload.startswith("[DONE]"):
            events.append("[DONE]")
            continue
        events.append(json.loads(payload))
    return events
