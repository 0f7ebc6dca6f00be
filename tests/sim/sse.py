"""A tiny SSE reader for simulator tests (independent of the code under test)."""

from __future__ import annotations

import json
from typing import Any


def frames(body: bytes) -> list[bytes]:
    """Raw frames (split on blank lines), comments included."""
    text = body.replace(b"\r\n", b"\n")
    return [f for f in text.split(b"\n\n") if f]


def events(body: bytes) -> list[dict[str, Any]]:
    """JSON events of a stream body; stops at [DONE]; skips comments."""
    out = []
    for f in frames(body):
        data = b"\n".join(line[5:].lstrip() for line in f.split(b"\n") if line.startswith(b"data:"))
        if not data:
            continue
        if data == b"[DONE]":
            break
        out.append(json.loads(data))
    return out


def has_done(body: bytes) -> bool:
    return frames(body)[-1:] == [b"data: [DONE]"]
