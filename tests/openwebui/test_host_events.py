"""The pipe's status and source events over HTTP: the real Open WebUI 0.12.4 delivers them over
socket.io (`events` messages to the user's room); the fake host streams the same messages on
`GET /api/host/events`. The same API chat through both must deliver the same messages."""

from __future__ import annotations

import httpx
import pytest

from simulator.host.events_client import HostEvents
from simulator.host.server import FunctionSpec, HostConfig, create_app
from simulator.net import LoopbackServer
from tests.openwebui.conftest import PIPES

pytestmark = [pytest.mark.openwebui, pytest.mark.timeout(300)]

ASK = [{"role": "user", "content": "why is the sky blue"}]


async def test_api_chat_events_match_open_webuis_socket_io(owui, owui_function, tmp_path):
    model = owui_function("events_pipe.py")
    async with owui.events() as capture:
        reply = await owui.chat(model, ASK, stream=True)
        assert reply.status == 200
        await capture.barrier()
        real = [
            {k: e.get(k) for k in ("chat_id", "message_id", "data")}
            for e in capture.events
            if e.get("chat_id") == ""
        ]
    assert [m["data"]["type"] for m in real] == ["status", "citation", "status"]

    config = HostConfig(
        functions=[FunctionSpec(str(PIPES / "events_pipe.py"), function_id=model)],
        users={"t": {"id": "a1", "role": "admin", "email": "a@x.io", "name": "A"}},
        valves_path=str(tmp_path / "valves.json"),
    )
    with LoopbackServer(create_app(config)) as server:
        async with HostEvents(server.url, "t") as events:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                body = {"model": model, "messages": ASK, "stream": True}
                r = await client.post(
                    "/api/chat/completions", json=body, headers={"Authorization": "Bearer t"}
                )
                assert r.status_code == 200
            fake = await events.wait_for(len(real))
    assert fake == real
