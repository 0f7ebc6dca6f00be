"""CassettePlayer: what the fake OpenRouter server calls to answer a request from cassettes.

`await player.play(method, path, headers, body)` returns a PlayedResponse (status, headers,
timed chunks) or raises NoMatchError (a LookupError) with a human explanation. Per request, the
headers `X-Sim-Chunking: <plan>` and `X-Sim-Speed: <factor|instant>` override the player's
defaults.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from simulator.cassettes.chunking import parse_plan, plan_chunks
from simulator.cassettes.convert import json_from_stream, stream_from_json
from simulator.cassettes.format import Cassette, RecordedResponse, load_cassettes
from simulator.cassettes.matching import Candidate, Matcher, NoMatchError
from simulator.cassettes.played import PlayedChunk, PlayedResponse

# Framing headers belong to the connection that carried the recording, not to the replay.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "date",
    "server",
}
SSE_TYPE = "text/event-stream"
JSON_TYPE = "application/json"

__all__ = ["CassettePlayer", "NoMatchError"]


def _as_cassettes(items: Iterable[Cassette | str | os.PathLike[str]]) -> list[Cassette]:
    cassettes: list[Cassette] = []
    for item in items:
        cassettes.extend([item] if isinstance(item, Cassette) else load_cassettes(item))
    return cassettes


def _speed(value: str) -> float | None:
    if value.strip().lower() in {"instant", "none", "0"}:
        return None
    return float(value)


class CassettePlayer:
    def __init__(
        self,
        cassettes: Iterable[Cassette | str | os.PathLike[str]] | Cassette | str | os.PathLike[str],
        *,
        speed: float | None = None,
        chunking: str = "recorded",
        ignore_paths: Iterable[str] = (),
        allow_repeats: bool = False,
    ) -> None:
        if isinstance(cassettes, Cassette | str | os.PathLike):
            cassettes = [cassettes]
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be > 0 (or None for instant replay), got {speed}")
        self.cassettes = _as_cassettes(cassettes)
        self.speed = speed
        self.chunking = parse_plan(chunking).name
        self.matcher = Matcher(self.cassettes, tuple(ignore_paths), allow_repeats)
        self._cache: dict[tuple[int, bool, str, float | None], PlayedResponse] = {}

    def reset(self) -> None:
        """Mark every interaction as not played yet."""
        self.matcher.reset()

    def unplayed(self) -> list[str]:
        return [c.label for c in self.matcher.candidates if c.played == 0]

    async def play(
        self, method: str, path: str, headers: Mapping[str, str], body: dict | None
    ) -> PlayedResponse:
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            plan = parse_plan(lowered.get("x-sim-chunking", self.chunking)).name
            speed = _speed(lowered["x-sim-speed"]) if "x-sim-speed" in lowered else self.speed
        except ValueError as exc:
            raise NoMatchError(f"bad replay override header: {exc}") from None
        candidate = self.matcher.match(method, path, body)
        wants_stream = bool(isinstance(body, dict) and body.get("stream"))
        key = (id(candidate), wants_stream, plan, speed)
        if key not in self._cache:
            self._cache[key] = self._render(candidate, wants_stream, plan, speed)
        cached = self._cache[key]
        return PlayedResponse(cached.status, list(cached.headers), list(cached.chunks))

    def _render(
        self, candidate: Candidate, wants_stream: bool, plan: str, speed: float | None
    ) -> PlayedResponse:
        response = candidate.interaction.response
        headers = [(k, v) for k, v in response.headers if k.lower() not in HOP_BY_HOP]
        if response.is_sse and response.status == 200 and not wants_stream:
            status, body = json_from_stream(response.raw_stream())
            last = response.chunks[-1].offset if response.chunks else 0.0
            return self._json(status, _with_type(headers, JSON_TYPE), body, last, speed)
        if not response.is_stream and response.status == 200 and wants_stream:
            if isinstance(response.body, dict) and response.body.get("object") == "response":
                raw = stream_from_json(response.body)
                chunks = plan_chunks([(response.body_offset, raw)], plan, speed)
                return PlayedResponse(200, _with_type(headers, SSE_TYPE), chunks)
        if response.is_stream:
            recorded = [(c.offset, c.data) for c in response.chunks or []]
            return PlayedResponse(response.status, headers, plan_chunks(recorded, plan, speed))
        return self._json(response.status, headers, response.body, response.body_offset, speed)

    @staticmethod
    def _json(
        status: int, headers: list[tuple[str, str]], body: Any, offset: float, speed: float | None
    ) -> PlayedResponse:
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        delay = 0.0 if speed is None else offset / speed
        return PlayedResponse(status, headers, [PlayedChunk(delay, data)] if data else [])


def _with_type(headers: list[tuple[str, str]], content_type: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() != "content-type"] + [
        ("content-type", content_type)
    ]


def response_kind(response: RecordedResponse) -> str:
    return "stream" if response.is_stream else "json"
