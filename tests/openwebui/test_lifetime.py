"""The exported pipe in the real Open WebUI 0.12.4 closes its upstream answer within a second
when the chat goes away: an API client that disconnects mid-stream (FIN or RST), and a Stop
in the UI (Open WebUI cancels the chat's task). The fake OpenRouter counts the answers it is
still sending; with MAX_CONCURRENT_REQUESTS=2 it never sees more than two at once.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from simulator.openrouter.server import SimServer
from tests.disconnecting_client import disconnect_after_three_chunks, upstream_closed

pytestmark = pytest.mark.openwebui

SLOW = {"script": {"text": " ".join(["word"] * 400)}, "tps": 20}  # ~20 s if read to the end
ASK = [{"role": "user", "content": "tell me a long story"}]


@pytest.fixture
def sim():
    """A fresh fake per test (its peak of open answers is what the test reads)."""
    with SimServer() as server:
        yield server


def _valves(sim) -> dict:
    return {
        "BASE_URL": sim.base_url,
        "API_KEY": sim.api_key,
        "MAX_CONCURRENT_REQUESTS": 2,
        "REQUEST_QUEUE_SIZE": 0,
        "STREAM_COALESCE_MS": 0,
    }


async def test_api_disconnects_close_the_upstream_and_the_limit_holds(
    owui, owui_function, exported, sim
):
    fid = owui_function(exported, valves=_valves(sim))
    for _ in range(12):
        sim.enqueue(SLOW)
    body = {"model": f"{fid}.openai.gpt-4o-mini", "stream": True, "messages": ASK}
    streamed = 0
    for round_ in range(3):  # two at once (the limit), both go away, two more at once
        results = await asyncio.gather(
            *[
                asyncio.to_thread(
                    disconnect_after_three_chunks, owui.base_url, owui.headers, body, rst
                )
                for rst in (round_ % 2 == 0, round_ % 2 == 1)
            ]
        )
        streamed += sum(results)
        await upstream_closed(sim)
    assert streamed >= 4, "most chats should have streamed"
    assert sim.state.peak_open_answers <= 2


def _deltas(capture, chat_id: str) -> int:
    return sum(
        1
        for e in capture.for_chat(chat_id)
        if (e.get("data") or {}).get("type") == "response:completion"
    )


async def test_ui_stop_closes_the_upstream(owui, owui_function, exported, sim):
    fid = owui_function(exported, valves=_valves(sim))
    sim.enqueue(SLOW)
    async with owui.events() as capture:
        body = {
            "model": f"{fid}.openai.gpt-4o-mini",
            "messages": ASK,
            "stream": True,
            "session_id": capture.sid,
            "id": "assistant-stop-1",
            "parent_id": None,
            "user_message": {"id": "user-stop-1", "role": "user", "content": ASK[0]["content"]},
            "background_tasks": {},
            "features": {},
        }
        async with httpx.AsyncClient(
            base_url=owui.base_url, headers=owui.headers, timeout=30
        ) as client:
            accepted = (await client.post("/api/chat/completions", json=body)).json()
            chat_id = accepted["chat_id"]
            await capture.wait_for(lambda _: _deltas(capture, chat_id) >= 3, 20)
            assert sim.open_answers == 1
            stop = await client.post(f"/api/tasks/chat/{chat_id}/stop")
            assert stop.status_code == 200, stop.text
            await upstream_closed(sim)
