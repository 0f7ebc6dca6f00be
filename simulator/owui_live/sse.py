"""Decode what Open WebUI sends back for a chat: raw SSE bytes or a JSON body."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DONE = "[DONE]"


def sse_payloads(raw: bytes) -> list[str]:
    """The `data:` payloads in order. Open WebUI writes one `data:` line per event and ends
    with `data: [DONE]` without a trailing blank line, so a line scan is exact."""
    out: list[str] = []
    for line in raw.decode("utf-8").splitlines():
        if line.startswith("data:"):
            out.append(line[5:].strip())
    return out


def parse_payload(payload: str) -> Any:
    """JSON payloads become objects; `[DONE]` (and any non-JSON text) stays a string."""
    if payload == DONE:
        return DONE
    try:
        return json.loads(payload)
    except ValueError:
        return payload


@dataclass
class ChatReply:
    """One HTTP chat answer, streamed or not, kept raw and parsed."""

    status: int
    content_type: str
    raw: bytes
    stream: bool
    chunks: list[Any] = field(default_factory=list)  # parsed SSE payloads (stream only)
    json: Any = None  # parsed body (non-stream only)

    @classmethod
    def from_http(cls, status: int, content_type: str, raw: bytes, stream: bool) -> ChatReply:
        reply = cls(status=status, content_type=content_type, raw=raw, stream=stream)
        if "text/event-stream" in content_type:
            reply.chunks = [parse_payload(p) for p in sse_payloads(raw)]
        else:
            try:
                reply.json = json.loads(raw) if raw else None
            except ValueError:
                reply.json = raw.decode("utf-8", "replace")
        return reply

    @property
    def text(self) -> str:
        """The answer text: joined `delta.content` when streamed, `message.content` otherwise."""
        if self.chunks:
            parts = []
            for chunk in self.chunks:
                if isinstance(chunk, dict):
                    for choice in chunk.get("choices") or []:
                        parts.append((choice.get("delta") or {}).get("content") or "")
            return "".join(parts)
        if isinstance(self.json, dict):
            choices = self.json.get("choices") or [{}]
            return ((choices[0].get("message") or {}).get("content")) or ""
        return ""

    @property
    def ended_with_done(self) -> bool:
        return bool(self.chunks) and self.chunks[-1] == DONE
