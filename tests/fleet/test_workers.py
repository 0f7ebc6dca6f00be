"""Several `orsim serve-host` workers sharing a real redis-server, running the exported pipe
against the fake OpenRouter: what one worker learns, every worker uses."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from simulator.export import export_function

TOKEN = "tok"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
FID = "openrouter"


@pytest.fixture
def pipe_file(tmp_path: Path) -> Path:
    return export_function(tmp_path / "openrouter.py")


def start_fleet(serve_host, pipe_file: Path, sim, *extra: str, workers: int = 2, **valves):
    values = {"BASE_URL": sim.base_url, "API_KEY": sim.api_key, **valves}
    return serve_host(
        "--function", str(pipe_file), "--function-id", FID,
        "--workers", str(workers),
        "--valves", json.dumps(values),
        "--user", f"{TOKEN}=u1:admin",
        *extra,
    )  # fmt: skip


async def spread(served, path: str, n: int, **kwargs) -> list[httpx.Response]:
    """n requests on fresh connections, concurrently, so the kernel spreads them over workers."""
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=served.url, limits=limits, timeout=30) as http:
        method = http.post if "json" in kwargs else http.get
        return await asyncio.gather(*[method(path, headers=HEADERS, **kwargs) for _ in range(n)])


def pids(replies: list[httpx.Response]) -> set[str]:
    return {r.headers["x-orsim-worker-pid"] for r in replies}


async def on_every_worker(served, path: str, workers: int = 2, deadline: float = 60.0):
    """Replies to `path` from fresh connections until every worker has answered at least once
    (a busy machine may start one worker seconds after the other)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    replies: list[httpx.Response] = []
    while len(pids(replies)) < workers:
        assert loop.time() < end, f"only {pids(replies)} answered within {deadline}s"
        replies += await spread(served, path, 4)
    return replies


async def test_the_fleet_fetches_the_catalog_once_and_a_valve_change_refreshes_it_everywhere(
    serve_host, pipe_file, openrouter_sim, redis_server
) -> None:
    served = start_fleet(serve_host, pipe_file, openrouter_sim, "--redis", redis_server.url)
    await on_every_worker(served, "/api/host/worker")
    replies = await on_every_worker(served, "/api/models")
    assert all(r.status_code == 200 and r.json()["data"] for r in replies)
    fetches = openrouter_sim.requests_to("/models")
    assert len(fetches) == 1, fetches
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        r = await http.post(
            f"/api/v1/functions/id/{FID}/valves/update",
            headers=HEADERS,
            json={
                "BASE_URL": openrouter_sim.base_url,
                "API_KEY": openrouter_sim.api_key,
                "MODEL_ID": "openai/gpt-4o",
            },
        )
        assert r.status_code == 200
    replies = await on_every_worker(served, "/api/models")
    assert all([m["id"] for m in r.json()["data"]] == [f"{FID}.openai.gpt-4o"] for r in replies)
    assert len(openrouter_sim.requests_to("/models")) == 2  # one refresh for the whole fleet


async def test_without_redis_each_worker_fetches_its_own_catalog(
    serve_host, pipe_file, openrouter_sim
) -> None:
    served = start_fleet(serve_host, pipe_file, openrouter_sim)
    await on_every_worker(served, "/api/models")
    assert len(openrouter_sim.requests_to("/models")) == 2
