"""What OpenRouter tells one worker, every worker obeys: two Pipes with their own runtimes (two
workers) share a real redis-server and call the fake OpenRouter over loopback HTTP."""

from __future__ import annotations

import httpx

from pipe import Pipe
from simulator.services.redis_server import RedisServer
from tests.pipe.helpers import chat_body, make_pipe, user


def workers(sim, redis_url: str, **valves) -> list[Pipe]:
    """Two Pipes, each with its own runtime (as two worker processes have)."""
    out = []
    for _ in range(2):
        pipe = make_pipe(sim, REDIS_URL=redis_url, MAX_RETRIES=0, **valves)
        pipe._transport = httpx.AsyncHTTPTransport()  # a distinct runtime per worker
        out.append(pipe)
    return out


async def answer(pipe: Pipe) -> str:
    return await pipe.pipe(chat_body(stream=False), __user__=user())


async def test_a_401_on_one_worker_stops_every_worker_calling_with_that_key(
    openrouter_sim, redis_server: RedisServer
) -> None:
    a, b = workers(openrouter_sim, redis_server.url)
    openrouter_sim.enqueue({"status": 401, "body": {"error": {"code": 401, "message": "No auth"}}})
    assert "authentication" in (await answer(a)).lower()
    calls = len(openrouter_sim.requests_to("/responses"))
    text = await answer(b)
    assert "authentication" in text.lower() and "not trying it again" in text
    assert len(openrouter_sim.requests_to("/responses")) == calls  # b never called upstream


async def test_a_429_retry_after_on_one_worker_holds_that_model_on_every_worker(
    openrouter_sim, redis_server: RedisServer
) -> None:
    a, b = workers(openrouter_sim, redis_server.url, RETRY_MAX_WAIT_SECONDS=1)
    openrouter_sim.enqueue(
        {
            "status": 429,
            "headers": {"Retry-After": "120"},
            "body": {"error": {"code": 429, "message": "Rate limit exceeded"}},
        }
    )
    assert "rate limit" in (await answer(a)).lower()
    calls = len(openrouter_sim.requests_to("/responses"))
    text = await answer(b)
    assert "wait 1" in text and "rate limit" in text.lower()
    assert len(openrouter_sim.requests_to("/responses")) == calls
    other = await b.pipe(chat_body(model="openai.gpt-4o", stream=False), __user__=user())
    assert "rate limit" not in other.lower()  # another model is not held


async def test_without_redis_a_worker_keeps_what_it_learned_to_itself(openrouter_sim) -> None:
    a, b = workers(openrouter_sim, "", REDIS_ENABLED=False)
    openrouter_sim.enqueue({"status": 401, "body": {"error": {"code": 401, "message": "No auth"}}})
    await answer(a)
    assert "not trying it again" in await answer(a)
    calls = len(openrouter_sim.requests_to("/responses"))
    assert "not trying it again" not in await answer(b)
    assert len(openrouter_sim.requests_to("/responses")) == calls + 1
