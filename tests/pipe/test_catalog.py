"""Model catalog cache: TTL, stale-on-failure with backoff, one fetch for concurrent callers,
one cache per base URL and key."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from pipe.catalog import ModelCatalog
from pipe.errors import PipeError
from tests.pipe.helpers import make_pipe

PAYLOAD = {
    "data": [
        {"id": "openai/gpt-4o", "name": "GPT-4o"},
        {"id": "openai/gpt-4o-2024-11-20", "name": "GPT-4o (2024-11-20)"},
    ]
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Upstream:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.headers: list[httpx.Headers] = []

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        self.headers.append(request.headers)
        await asyncio.sleep(0.01)
        if self.fail:
            return httpx.Response(503, json={"error": {"code": 503, "message": "down"}})
        return httpx.Response(200, json=PAYLOAD)


HEADERS = {"Authorization": "Bearer sk-or-k"}


class Catalog(ModelCatalog):
    """The catalog with this file's headers, waiting for a background refresh it started."""

    async def get(self, ttl: float) -> object:  # type: ignore[override]
        snapshot = await super().get(ttl, HEADERS)
        await self.settled()
        return snapshot


def catalog(up: Upstream, clock: Clock) -> Catalog:
    client = httpx.AsyncClient(transport=httpx.MockTransport(up.handler))
    return Catalog(client, "http://or.test/api/v1/", clock=clock)


async def test_ttl_cache_and_refresh():
    up, clock = Upstream(), Clock()
    cat = catalog(up, clock)
    snap = await cat.get(ttl=60)
    assert set(snap.by_slug) == {"openai/gpt-4o", "openai/gpt-4o-2024-11-20"}
    await cat.get(ttl=60)
    assert up.calls == 1
    clock.now += 61
    assert await cat.get(ttl=60) is snap  # stale, served at once; refreshed in the background
    assert up.calls == 2
    assert await cat.get(ttl=60) is not snap
    assert up.headers[0]["authorization"] == "Bearer sk-or-k"


async def test_concurrent_callers_share_one_fetch():
    up, clock = Upstream(), Clock()
    cat = catalog(up, clock)
    snaps = await asyncio.gather(*(cat.get(ttl=60) for _ in range(20)))
    assert up.calls == 1 and all(s is snaps[0] for s in snaps)


async def test_stale_catalog_served_with_backoff_on_failure():
    up, clock = Upstream(), Clock()
    cat = catalog(up, clock)
    first = await cat.get(ttl=60)
    up.fail = True
    clock.now += 61
    assert await cat.get(ttl=60) is first  # stale, served
    assert up.calls == 2
    clock.now += 1
    assert await cat.get(ttl=60) is first  # within backoff (5 s): no new fetch
    assert up.calls == 2
    clock.now += 5
    await cat.get(ttl=60)
    assert up.calls == 3  # backoff passed: tried again, failed, backoff doubles to 10 s
    clock.now += 6
    await cat.get(ttl=60)
    assert up.calls == 3
    up.fail = False
    clock.now += 5
    await cat.get(ttl=60)  # stale once more; the refresh succeeds
    fresh = await cat.get(ttl=60)
    assert up.calls == 4 and fresh is not first


async def test_no_catalog_yet_raises_then_backs_off():
    up, clock = Upstream(), Clock()
    up.fail = True
    cat = catalog(up, clock)
    with pytest.raises(PipeError):
        await cat.get(ttl=60)
    with pytest.raises(PipeError):
        await cat.get(ttl=60)
    assert up.calls == 1


async def test_one_cache_per_base_url_and_key(openrouter_sim):
    a = make_pipe(openrouter_sim)
    b = make_pipe(openrouter_sim)
    await a.pipes()
    await b.pipes()
    assert len(openrouter_sim.requests_to("/models")) == 1  # shared by both instances
    c = make_pipe(openrouter_sim, API_KEY="sk-or-another-key")
    await c.pipes()
    assert len(openrouter_sim.requests_to("/models")) == 2  # another key: its own cache


async def test_chat_uses_catalog_slug_and_capabilities(openrouter_sim):
    from tests.pipe.helpers import chat_body, run_pipe

    p = make_pipe(openrouter_sim)
    await run_pipe(p, chat_body("hi", model="openai.gpt-4o", top_k=5, temperature=0.2))
    sent = openrouter_sim.requests_to("/responses")[-1]["body"]
    assert sent["model"] == "openai/gpt-4o" and sent["temperature"] == 0.2
    assert "top_k" not in sent and "reasoning" not in sent  # gpt-4o lists neither


async def test_catalog_unavailable_falls_back_to_slug_mapping():
    seen = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(500, json={"error": {"code": 500, "message": "x"}})
        seen.append(request.read())
        from tests.pipe.helpers import sse_frame, text_events

        body = b"".join(sse_frame(e) for e in text_events(["ok"])) + b"data: [DONE]\n\n"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    from pipe import Pipe
    from tests.pipe.helpers import chat_body, run_pipe

    p = Pipe(transport=httpx.MockTransport(handler))
    p.valves = Pipe.Valves(BASE_URL="http://down.test/api/v1", API_KEY="sk-or-x")
    out = await run_pipe(p, chat_body("hi", model="openai.gpt-4o-2024-11-20"))
    assert out.text == "ok"
    assert b'"model":"openai/gpt-4o-2024-11-20"' in seen[0]
