"""`orsim serve-host`: the fake Open WebUI over HTTP (in-process ASGI and real worker processes)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from simulator.host.server import (
    DEFAULT_TOKEN,
    FunctionSpec,
    HostConfig,
    create_app,
    parse_user,
    prepare_config,
)
from simulator.net import LoopbackServer
from tests.bad_bodies import EXPECTED, bodies

HOST_PIPES = Path(__file__).resolve().parent / "pipes"

ADMIN = {"Authorization": "Bearer admin-token"}
USER = {"Authorization": "Bearer user-token"}
ASK = [{"role": "user", "content": "hi"}]


def _config(tmp_path, **access) -> HostConfig:
    return HostConfig(
        functions=[
            FunctionSpec(str(HOST_PIPES / "echo_pipe.py")),
            FunctionSpec(str(HOST_PIPES / "returns_pipe.py")),
            FunctionSpec(str(HOST_PIPES / "manifold_pipe.py"), function_id="mf"),
            FunctionSpec(str(HOST_PIPES / "reserved_args_pipe.py"), function_id="ra"),
            FunctionSpec(str(HOST_PIPES / "task_pipe.py")),
        ],
        users={
            "admin-token": {"id": "a1", "role": "admin", "email": "a@x.io", "name": "A"},
            "user-token": {"id": "u1", "role": "user", "email": "u@x.io", "name": "U"},
        },
        valves_path=str(tmp_path / "valves.json"),
        **access,
    )


def _client(config: HostConfig) -> httpx.AsyncClient:
    app = create_app(config)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://host")


@pytest.fixture
def client(tmp_path):
    """Model access control bypassed: these tests are about everything else."""
    return _client(_config(tmp_path, bypass_model_access_control=True))


@pytest.fixture
def guarded(tmp_path):
    """Access control on, as Open WebUI starts by default."""
    return _client(_config(tmp_path, bypass_model_access_control=False, groups={"u1": ["g1"]}))


async def _create_entry(client, *grants: dict, headers=ADMIN) -> httpx.Response:
    body = {"id": "echo_pipe", "name": "Echo", "meta": {}, "params": {}, "access_grants": grants}
    return await client.post("/api/v1/models/create", headers=headers, json=body)


async def test_a_user_sees_no_model_without_an_entry_and_cannot_chat(guarded):
    assert (await guarded.get("/api/models", headers=USER)).json() == {"data": []}
    r = await chat(guarded, "echo_pipe", headers=USER)
    assert r.status_code == 400 and r.json() == {"detail": "Model not found"}
    admin = [m["id"] for m in (await guarded.get("/api/models", headers=ADMIN)).json()["data"]]
    assert "echo_pipe" in admin  # admins see models with no entry
    assert (await chat(guarded, "echo_pipe", headers=ADMIN)).status_code == 200


@pytest.mark.parametrize(
    "grant",
    [
        {"principal_type": "user", "principal_id": "u1", "permission": "read"},
        {"principal_type": "user", "principal_id": "*", "permission": "read"},
        {"principal_type": "group", "principal_id": "g1", "permission": "read"},
    ],
)
async def test_an_access_grant_opens_one_model_to_a_user(guarded, grant):
    r = await _create_entry(guarded, grant)
    assert r.status_code == 200, r.text
    ids = [m["id"] for m in (await guarded.get("/api/models", headers=USER)).json()["data"]]
    assert ids == ["echo_pipe"]
    assert (await chat(guarded, "echo_pipe", headers=USER)).status_code == 200
    assert (await chat(guarded, "returns_pipe", headers=USER)).status_code == 400


async def test_an_entry_without_a_grant_for_the_user_keeps_the_model_hidden(guarded):
    grant = {"principal_type": "group", "principal_id": "other", "permission": "read"}
    await _create_entry(guarded, grant)
    assert (await guarded.get("/api/models", headers=USER)).json() == {"data": []}
    write_only = {"principal_type": "user", "principal_id": "u1", "permission": "write"}
    await _create_entry(guarded, write_only)
    assert (await guarded.get("/api/models", headers=USER)).json() == {"data": []}


async def test_users_cannot_create_model_entries(guarded):
    assert (await _create_entry(guarded, headers=USER)).status_code == 401


async def test_the_bypass_flag_and_the_admin_bypass(tmp_path, monkeypatch):
    monkeypatch.setenv("BYPASS_MODEL_ACCESS_CONTROL", "true")
    open_host = _client(_config(tmp_path))
    assert len((await open_host.get("/api/models", headers=USER)).json()["data"]) == 6
    monkeypatch.setenv("BYPASS_MODEL_ACCESS_CONTROL", "false")
    strict = _client(_config(tmp_path, bypass_admin_access_control=False))
    # Admins without their bypass: still see models that have no entry (unconfigured).
    assert len((await strict.get("/api/models", headers=ADMIN)).json()["data"]) == 6


async def chat(
    client, model, content="hi", stream=True, headers=ADMIN, path="/api/chat/completions"
):
    return await client.post(
        path,
        headers=headers,
        json={"model": model, "messages": [{"role": "user", "content": content}], "stream": stream},
    )


async def test_bearer_tokens_are_required(client):
    assert (await client.get("/api/models")).status_code == 401
    r = await client.get("/api/models", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json() == {"detail": "Not authenticated"}
    assert (await client.post("/api/chat/completions", json={})).status_code == 401


async def test_models_and_worker_header(client):
    r = await client.get("/api/models", headers=USER)
    ids = [m["id"] for m in r.json()["data"]]
    assert ids == ["echo_pipe", "returns_pipe", "mf.alpha", "mf.beta.v2", "ra", "task_pipe"]
    assert r.headers["x-orsim-worker-pid"].isdigit()
    worker = (await client.get("/api/host/worker")).json()
    assert str(worker["pid"]) == r.headers["x-orsim-worker-pid"]
    assert set(worker["instances"]) == {"echo_pipe", "returns_pipe", "mf", "ra", "task_pipe"}
    assert (await client.get("/health")).json() == {"status": True}


async def test_streaming_chat_is_open_webui_sse(client):
    r = await chat(client, "echo_pipe")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    text = r.text
    assert text.endswith("\n\ndata: [DONE]")
    assert '"delta":{"content":"user=a@x.io "}' in text
    assert '"finish_reason":"stop","delta":{}' in text


async def test_non_streaming_chat_and_the_v1_alias(client):
    r = await chat(client, "mf.beta.v2", stream=False, path="/api/v1/chat/completions")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["choices"][0]["message"]["content"] == "manifold got model=mf.beta.v2"


async def test_error_shapes_over_http(client):
    r = await chat(client, "returns_pipe", "raise_mid", stream=False)
    assert r.status_code == 400 and r.json() == {"detail": "mid-stream failure"}
    r = await chat(client, "returns_pipe", "raise", stream=False)
    assert r.status_code == 200 and r.json() == {"error": {"detail": "upstream exploded"}}
    r = await chat(client, "returns_pipe", "raise_mid")
    assert r.text.endswith(
        '\n\ndata: {"error":{"message":"Chat completion stream failed"}}\n\ndata: [DONE]\n\n'
    )
    r = await chat(client, "returns_pipe", "streaming_response", stream=False)
    assert r.text == 'data: {"raw": 1}\n\ndata: {"raw": 2}\n\n'


async def test_bad_requests(client):
    r = await chat(client, "nope")
    assert r.status_code == 400 and r.json() == {"detail": "Model not found"}
    r = await client.post("/api/chat/completions", headers=ADMIN, content=b"{not json")
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
    r = await client.post("/api/chat/completions", headers=ADMIN, json=[1, 2])
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "dict_type"


async def test_the_user_behind_the_token_reaches_the_pipe(client):
    r = await chat(client, "ra", stream=False, headers=USER)
    seen = json.loads(r.json()["choices"][0]["message"]["content"])
    assert seen["metadata"]["user_id"] == "u1"
    assert seen["ids"] == ["", None, None]


async def test_valves_over_http(client):
    spec = (await client.get("/api/v1/functions/id/ra/valves/spec", headers=ADMIN)).json()
    assert spec["title"] == "Valves" and "LABEL" in spec["properties"]
    uspec = (await client.get("/api/v1/functions/id/ra/valves/user/spec", headers=USER)).json()
    assert uspec["title"] == "UserValves"
    r = await client.post(
        "/api/v1/functions/id/ra/valves/update", headers=USER, json={"LABEL": "x"}
    )
    assert r.status_code == 401  # admins only
    r = await client.post(
        "/api/v1/functions/id/ra/valves/update", headers=ADMIN, json={"LABEL": "via-http"}
    )
    assert r.json() == {"LABEL": "via-http"}
    assert (await client.get("/api/v1/functions/id/ra/valves", headers=ADMIN)).json() == {
        "LABEL": "via-http"
    }
    r = await client.post(
        "/api/v1/functions/id/ra/valves/user/update", headers=USER, json={"NICK": "bob"}
    )
    assert r.json() == {"NICK": "bob"}
    assert (await client.get("/api/v1/functions/id/ra/valves/user", headers=USER)).json() == {
        "NICK": "bob"
    }
    seen = json.loads(
        (await chat(client, "ra", stream=False, headers=USER)).json()["choices"][0]["message"][
            "content"
        ]
    )
    assert seen["valves"] == {"LABEL": "via-http"}
    assert seen["user_valves"] == {"NICK": "bob", "LEVEL": 1}
    r = await client.post(
        "/api/v1/functions/id/ra/valves/update", headers=ADMIN, json={"LABEL": ["bad"]}
    )
    assert r.status_code == 400 and "LABEL" in r.json()["detail"]
    r = await client.post("/api/v1/functions/id/nope/valves/update", headers=ADMIN, json={})
    assert r.status_code == 404


async def test_task_endpoints(client):
    r = await client.post(
        "/api/v1/tasks/title/completions",
        headers=ADMIN,
        json={"model": "task_pipe", "messages": ASK, "chat_id": "c1"},
    )
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == (
        'Sure! {"title": "Weather Chat"} hope that helps'
    )
    r = await client.post(
        "/api/v1/tasks/nope/completions",
        headers=ADMIN,
        json={"model": "task_pipe", "messages": ASK},
    )
    assert r.status_code == 404
    r = await client.post(
        "/api/v1/tasks/tags/completions", headers=ADMIN, json={"model": "unknown", "messages": ASK}
    )
    assert r.status_code == 404


def test_user_specs():
    assert parse_user("tok=u1:admin") == (
        "tok",
        {"id": "u1", "role": "admin", "email": "u1@example.com", "name": "u1"},
    )
    assert parse_user("t=u:user:e@x.io:Eve")[1]["name"] == "Eve"
    for bad in ["nouser", "t=u", "t=u:boss", "=u:user"]:
        with pytest.raises(ValueError, match="TOKEN=id:role"):
            parse_user(bad)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--function"),
        (["--function", str(HOST_PIPES / "no_class.py")], "No Function class found"),
        (["--function", "/nonexistent/pipe.py"], "No such file"),
        (["--function", str(HOST_PIPES / "echo_pipe.py"), "--user", "bad"], "TOKEN=id:role"),
        (["--function", str(HOST_PIPES / "echo_pipe.py"), "--valves", "{oops"], "not JSON"),
        (["--function", str(HOST_PIPES / "echo_pipe.py"), "--workers", "0"], "at least 1"),
        (["--function", str(HOST_PIPES / "echo_pipe.py"), "--valves", '{"PREFIX": 3}'], "PREFIX"),
    ],
)
def test_cli_rejects_bad_input_with_a_clear_message(args, message):
    proc = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "serve-host", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


async def test_two_workers_each_with_its_own_pipe_instance(serve_host):
    served = serve_host(
        "--function",
        str(HOST_PIPES / "instance_pipe.py"),
        "--workers",
        "2",
        "--valves",
        '{"DELAY_MS": 100}',
        "--user",
        "tok=u9:admin",
    )
    headers = {"Authorization": "Bearer tok"}
    seen: dict[str, set[str]] = {}
    body = {"model": "instance_pipe", "messages": ASK, "stream": True}
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=served.url, limits=limits, timeout=20) as http:
        for _ in range(10):  # concurrent chats until both workers have answered
            replies = await asyncio.gather(
                *[http.post("/api/chat/completions", headers=headers, json=body) for _ in range(8)]
            )
            for reply in replies:
                assert reply.status_code == 200 and reply.text.endswith("data: [DONE]")
                pid, instance = re.search(r"pid=(\d+) instance=(\w+)", reply.text).groups()
                assert reply.headers["x-orsim-worker-pid"] == pid
                seen.setdefault(pid, set()).add(instance)
            if len(seen) == 2:
                break
        assert len(seen) == 2, f"only one worker answered: {seen}"
        assert all(len(instances) == 1 for instances in seen.values())
        assert len(set().union(*seen.values())) == 2  # one Pipe instance per worker
        # A valve update through one worker reaches the other (shared storage).
        r = await http.post(
            "/api/v1/functions/id/instance_pipe/valves/update",
            headers=headers,
            json={"DELAY_MS": 0},
        )
        assert r.status_code == 200
        for _ in range(6):
            v = await http.get("/api/v1/functions/id/instance_pipe/valves", headers=headers)
            assert v.json() == {"DELAY_MS": 0}


async def test_emitter_events_reach_an_http_subscriber_like_socket_io(tmp_path):
    """Status and source events of an API chat are published to the user's events stream,
    shaped like Open WebUI's socket.io `events` messages (chat_id "" without a chat)."""
    from simulator.host.events_client import HostEvents
    from simulator.net import LoopbackServer

    config = _config(tmp_path, bypass_model_access_control=True)
    config.functions.append(FunctionSpec(str(HOST_PIPES / "events_pipe.py")))
    with LoopbackServer(create_app(config)) as server:
        async with HostEvents(server.url, "admin-token") as events:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                r = await chat(client, "events_pipe")
                assert r.status_code == 200
            seen = await events.wait_for(3)
        async with HostEvents(server.url, "user-token") as others:
            assert await others.wait_for(1, within=0.2) == []  # another user's stream
    assert [m["data"]["type"] for m in seen[:3]] == ["status", "citation", "source"]
    assert all(m["chat_id"] == "" and m["message_id"] is None for m in seen)
    assert seen[0]["data"]["data"]["description"] == "Searching"


async def test_the_events_stream_needs_a_token(client):
    assert (await client.get("/api/host/events")).status_code == 401


@pytest.mark.parametrize("name", list(EXPECTED))
async def test_malformed_chat_bodies_get_open_webuis_answer(name):
    config = prepare_config(
        HostConfig(
            functions=[FunctionSpec(path=str(HOST_PIPES / "echo_pipe.py"), function_id="echo")]
        )
    )
    with LoopbackServer(create_app(config)) as host:
        async with httpx.AsyncClient(
            base_url=host.url, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=30
        ) as http:
            reply = await http.post(
                "/api/chat/completions",
                content=bodies("echo")[name],
                headers={"Content-Type": "application/json"},
            )
    expected = EXPECTED[name]
    if expected is None:
        assert reply.status_code == 200
    else:
        assert (reply.status_code, reply.json()["detail"]) == expected
