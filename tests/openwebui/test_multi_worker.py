"""The deployment a growing operator runs: the real Open WebUI 0.12.4 with two uvicorn workers
(`UVICORN_WORKERS=2`), `REDIS_URL` + `WEBSOCKET_MANAGER=redis` on a real redis-server and
`DATABASE_URL` on a real PostgreSQL, running the exported pipe. A multi-turn tool chat (one
chat, follow-ups as the browser sends them) is answered with the pipe running in both workers,
every later turn replays the earlier turns' tool pairs (stored through the write-behind queue),
the socket.io events reach the browser's socket whichever worker ran the pipe, and the catalog
is fetched once for the fleet."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
import redis

from simulator.services.redis_server import RedisServer

pytestmark = [pytest.mark.openwebui, pytest.mark.timeout(600)]

WEATHER_TOOLS = Path(__file__).parent / "files" / "weather_tools.py"


def tool_rounds(turn: int) -> list[dict]:
    return [
        {
            "script": {
                "seed": f"fleet-tool-{turn}",
                "function_calls": [
                    {"name": "get_weather", "arguments": {"city": "Paris"}, "call_id": f"c{turn}"}
                ],
            }
        },
        {"script": {"seed": f"fleet-text-{turn}", "text": f"Turn {turn}: sunny in Paris."}},
    ]


@pytest.fixture(scope="module")
def fleet(postgres_server, tmp_path_factory):
    from simulator.owui_live.instance import OpenWebUI
    from tests.openwebui.conftest import skip_reason

    if skip_reason():
        pytest.skip(skip_reason())
    # Open WebUI's venv has psycopg 3 only (no psycopg2): the URL names the driver.
    database = postgres_server.create_database().replace("postgresql://", "postgresql+psycopg://")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    env = {
        "UVICORN_WORKERS": "2",
        "REDIS_URL": server.url,
        "WEBSOCKET_MANAGER": "redis",
        "WEBSOCKET_REDIS_URL": server.url,
        "DATABASE_URL": database,
    }
    try:
        with OpenWebUI.start(env=env, startup_timeout=300) as owui:
            yield owui, server
            print("[owui-live] uvicorn workers:", *owui.worker_events(), sep="\n  ")
    finally:
        server.stop()


async def test_a_tool_chat_runs_on_both_workers_with_events_and_shared_state(
    fleet, exported, sim
) -> None:
    owui, server = fleet
    owui.create_function(
        exported, id="orfleet", valves={"BASE_URL": sim.base_url, "API_KEY": sim.api_key}
    )
    owui.create_tool(WEATHER_TOOLS, id="weather_fleet")
    model = "orfleet.openai.gpt-4o-mini"
    client = redis.Redis.from_url(server.url)

    def pipe_pids() -> set[str]:
        names = [c.get("name", "") for c in client.client_list()]
        return {n.rsplit(":", 1)[-1] for n in names if n.startswith("openrouter-pipe:")}

    messages: list[dict] = []
    previous = None
    async with owui.events() as capture:
        for turn in range(1, 9):
            for spec in tool_rounds(turn):
                sim.enqueue(spec)
            ask = f"weather in Paris? ({turn})"
            messages.append({"role": "user", "content": ask})
            follow = {}
            if previous is not None:  # the same chat: Open WebUI rebuilds the history itself
                follow = {
                    "chat_id": previous.chat_id,
                    "parent_id": previous.message_id,
                    "user_message": {
                        "id": str(uuid.uuid4()),
                        "role": "user",
                        "content": ask,
                        "parentId": previous.message_id,
                        "childrenIds": [],
                        "timestamp": int(time.time()),
                    },
                }
            ui = await owui.ui_chat(capture, model, messages, tool_ids=["weather_fleet"], **follow)
            previous = ui
            content = ui.message.get("content", "")
            assert f"Turn {turn}: sunny in Paris." in content, content
            kinds = {e["data"].get("type") for e in ui.events}
            assert {"chat:completion", "status"} <= kinds, kinds  # socket.io events arrived
            messages.append({"role": "assistant", "content": content})
            if turn >= 3 and len(pipe_pids()) == 2:
                break
            # Concurrent plain chats between turns keep both workers busy, so the kernel hands
            # connections (and the next turn) to either of them.
            await asyncio.gather(*(owui.chat(model, [{"role": "user", "content": "hi"}])
                                   for _ in range(6)))  # fmt: skip
    # Replay: every later turn's first upstream call carried the earlier turns' tool pairs,
    # whichever worker stored them (write-behind through Redis) and whichever replays them.
    firsts = [
        entry["body"]
        for entry in sim.requests_to("/responses")
        if "weather in Paris" in str(entry.get("body", {}).get("input", [])[-1:])
    ]
    assert len(firsts) >= 3
    for turn, body in enumerate(firsts[1:], start=2):
        replayed = {i.get("call_id") for i in body["input"] if isinstance(i, dict)}
        assert {f"c{t}" for t in range(1, turn)} <= replayed, (turn, replayed)
    assert len(pipe_pids()) == 2, f"the pipe ran in only one worker: {owui.worker_events()}"
    # One catalog fetch for the fleet: the second worker used the first one's copy.
    assert len(sim.requests_to("/models")) == 1
    # The tool really ran on every turn: each second round carried its output upstream.
    outputs = [
        item
        for entry in sim.requests_to("/responses")
        for item in (entry.get("body") or {}).get("input", [])
        if isinstance(item, dict) and item.get("type") == "function_call_output"
    ]
    assert outputs, "no tool output reached the upstream"
