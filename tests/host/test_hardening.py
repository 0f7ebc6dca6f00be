"""The exported pipe in the fake Open WebUI host, over HTTP: bad valves are refused when saved,
a malformed chat is refused by name without an upstream call, and a hung OpenRouter gives an
empty model list within the timeout valves."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from simulator.export import export_function
from simulator.host.server import (
    DEFAULT_TOKEN,
    FunctionSpec,
    HostConfig,
    create_app,
    prepare_config,
)
from simulator.net import LoopbackServer

ADMIN = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
MODEL = "openrouter.openai.gpt-4o-mini"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_function(tmp_path_factory.mktemp("export") / "openrouter_responses_pipe.py")


def served(exported, valves: dict) -> LoopbackServer:
    config = HostConfig(
        functions=[FunctionSpec(path=str(exported), function_id="openrouter")],
        initial_valves={"openrouter": valves},
    )
    return LoopbackServer(create_app(prepare_config(config)))


@pytest.mark.parametrize(
    ("name", "value"),
    [("APP_TITLE", "Café"), ("HTTP_REFERER", "x\r\ny"), ("BASE_URL", "file:///etc/passwd")],
)
async def test_bad_header_and_url_valves_are_refused_when_saved(
    exported, openrouter_sim, name, value
):
    valves = {"BASE_URL": openrouter_sim.base_url, "API_KEY": openrouter_sim.api_key}
    with served(exported, valves) as host:
        async with httpx.AsyncClient(base_url=host.url, headers=ADMIN, timeout=30) as http:
            update = "/api/v1/functions/id/openrouter/valves/update"
            refused = await http.post(update, json={**valves, name: value})
            assert refused.status_code == 400
            body = {
                "model": MODEL,
                "stream": False,
                "messages": [{"role": "user", "content": "hi"}],
            }
            reply = await http.post("/api/chat/completions", json=body)
    assert reply.json()["choices"][0]["message"]["content"] == "You said: hi"


async def test_a_malformed_chat_is_refused_by_name_without_an_upstream_call(
    exported, openrouter_sim
):
    valves = {"BASE_URL": openrouter_sim.base_url, "API_KEY": openrouter_sim.api_key}
    with served(exported, valves) as host:
        async with httpx.AsyncClient(base_url=host.url, headers=ADMIN, timeout=30) as http:
            body = {
                "model": MODEL,
                "stream": True,
                "messages": [{"role": "wizard", "content": "x"}],
            }
            reply = await http.post("/api/chat/completions", json=body)
    assert reply.status_code == 200
    assert "The request is malformed" in reply.text and "role 'wizard'" in reply.text
    assert openrouter_sim.requests_to("/responses") == []


async def test_a_hung_openrouter_gives_an_empty_model_list_fast(exported):
    async def never_answer(reader, writer) -> None:
        await reader.read()  # holds the connection until the client goes

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    valves = {
        "BASE_URL": f"http://127.0.0.1:{port}/api/v1",
        "API_KEY": "sk-or-test",
        "CONNECT_TIMEOUT_SECONDS": 1,
        "READ_TIMEOUT_SECONDS": 1,
    }
    try:
        with served(exported, valves) as host:
            async with httpx.AsyncClient(base_url=host.url, headers=ADMIN, timeout=30) as http:
                models = await asyncio.wait_for(http.get("/api/models"), 10)
    finally:
        server.close()
    assert models.status_code == 200 and models.json()["data"] == []
