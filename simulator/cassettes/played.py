"""What a cassette player hands to the fake OpenRouter server: bytes to send, and when."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PlayedChunk:
    """One write to the socket: wait `delay` seconds after the previous write, then send `data`."""

    delay: float
    data: bytes


@dataclass
class PlayedResponse:
    """A whole response to replay: status line, headers (as recorded, minus hop-by-hop ones)
    and the body as an ordered list of timed chunks (one chunk for a buffered JSON body)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunks: list[PlayedChunk] = field(default_factory=list)
