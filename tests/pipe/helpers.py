"""Helpers for the pipe's tests: build a Pipe pointed at the fake OpenRouter, call it the way
Open WebUI does, and consume what it returns."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

from pipe import Pipe
from pipe.markers import find_markers, strip_markers

FUNCTION_ID = "openrouter"


class Recorder:
    """An `__event_emitter__` that records every event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    def statuses(self) -> list[str]:
        return [e["data"]["description"] for e in self.of_type("status")]


def make_pipe(sim: Any, **valves: Any) -> Pipe:
    pipe = Pipe()
    settings = {
        "BASE_URL": sim.base_url,
        "API_KEY": sim.api_key,
        "RETRY_BACKOFF_SECONDS": 0.01,
        **valves,
    }
    pipe.valves = Pipe.Valves(**settings)
    return pipe


def user(**user_valves: Any) -> dict[str, Any]:
    return {
        "id": "user-1",
        "name": "Ada",
        "email": "ada@example.org",
        "role": "user",
        "valves": Pipe.UserValves(**user_valves),
    }


def chat_body(
    text: str = "Hello there", model: str = "openai.gpt-4o-mini", stream: bool = True, **extra: Any
) -> dict[str, Any]:
    return {
        "model": f"{FUNCTION_ID}.{model}",
        "messages": [{"role": "user", "content": text}],
        "stream": stream,
        **extra,
    }


def metadata(**extra: Any) -> dict[str, Any]:
    return {
        "chat_id": "chat-1",
        "message_id": "msg-1",
        "session_id": "sess-1",
        "user_id": "user-1",
        **extra,
    }


class Collected:
    def __init__(self, chunks: list[Any]) -> None:
        self.chunks = chunks

    def _deltas(self, key: str) -> list[str]:
        out = []
        for c in self.chunks:
            if isinstance(c, dict) and c.get("choices"):
                value = c["choices"][0].get("delta", {}).get(key)
                if value:
                    out.append(value)
        return out

    @property
    def raw_text(self) -> str:
        """Every content delta, replay markers included."""
        return "".join(self._deltas("content"))

    @property
    def text(self) -> str:
        """The text a user sees: replay marker lines render as nothing."""
        return strip_markers(self.raw_text)

    @property
    def markers(self) -> list[str]:
        return find_markers(self.raw_text)

    @property
    def reasoning(self) -> str:
        return "".join(self._deltas("reasoning_content"))

    @property
    def text_chunks(self) -> list[str]:
        return self._deltas("content")

    @property
    def usage(self) -> dict[str, Any] | None:
        for c in reversed(self.chunks):
            if isinstance(c, dict) and c.get("usage"):
                return c["usage"]
        return None

    @property
    def finish_reason(self) -> str | None:
        for c in reversed(self.chunks):
            if isinstance(c, dict) and c.get("choices") and c["choices"][0].get("finish_reason"):
                return c["choices"][0]["finish_reason"]
        return None


async def consume(result: Any) -> Collected:
    """Drain what `pipe()` returned (an async generator when streaming)."""
    if inspect.isasyncgen(result) or isinstance(result, AsyncIterator):
        return Collected([chunk async for chunk in result])
    return Collected([result])


async def run_pipe(
    pipe: Pipe, body: dict[str, Any], recorder: Recorder | None = None, **kwargs: Any
) -> Collected:
    result = await pipe.pipe(
        body=body,
        __user__=kwargs.pop("__user__", user()),
        __metadata__=kwargs.pop("__metadata__", metadata()),
        __event_emitter__=recorder,
        **kwargs,
    )
    return await consume(result)


# ---------------------------------------------------------------- a gated upstream (unit tests)

CATALOG = {
    "data": [
        {
            "id": "openai/gpt-4o-mini",
            "name": "GPT-4o mini",
            "supported_parameters": ["max_tokens", "temperature"],
            "pricing": {"prompt": "0.1", "completion": "0.1"},
        },
    ]
}


def sse_frame(event: dict[str, Any]) -> bytes:
    import json

    return b"data: " + json.dumps(event).encode() + b"\n\n"


def text_events(words: list[str]) -> list[dict[str, Any]]:
    created = {
        "type": "response.created",
        "response": {
            "id": "r",
            "object": "response",
            "model": "openai/gpt-4o-mini",
            "status": "in_progress",
            "output": [],
        },
    }
    deltas = [
        {
            "type": "response.output_text.delta",
            "item_id": "m",
            "output_index": 0,
            "content_index": 0,
            "delta": w,
        }
        for w in words
    ]
    done = {
        "type": "response.completed",
        "response": {
            "id": "r",
            "object": "response",
            "model": "openai/gpt-4o-mini",
            "status": "completed",
            "output": [],
            "usage": {
                "input_tokens": 1,
                "output_tokens": len(words),
                "total_tokens": 1 + len(words),
            },
        },
    }
    return [created, *deltas, done]


class GatedUpstream:
    """An httpx MockTransport whose `/responses` stream sends `parts` (bytes), pausing before
    any part that is an `asyncio.Event` until the test sets it; records when a body is closed."""

    def __init__(self, parts: list[Any]) -> None:
        import asyncio

        self.parts = parts
        self.requests = 0
        self.closed = 0
        self.started = asyncio.Event()

    def transport(self):
        import httpx

        async def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/models"):
                return httpx.Response(200, json=CATALOG)
            self.requests += 1
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=self._body()
            )

        return httpx.MockTransport(handler)

    async def _body(self):
        import asyncio

        self.started.set()
        try:
            for part in self.parts:
                if isinstance(part, asyncio.Event):
                    await part.wait()
                else:
                    yield part
        finally:
            self.closed += 1


def gated_pipe(upstream: GatedUpstream, **valves: Any) -> Pipe:
    pipe = Pipe(transport=upstream.transport())
    pipe.valves = Pipe.Valves(
        BASE_URL="http://upstream.test/api/v1",
        API_KEY="sk-or-test",
        RETRY_BACKOFF_SECONDS=0.01,
        **valves,
    )
    return pipe


async def eventually(predicate, attempts: int = 500) -> None:
    """Poll a condition set by another task (bounded, so a bug fails instead of hanging)."""
    import asyncio

    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")
