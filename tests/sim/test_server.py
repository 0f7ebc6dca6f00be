"""SimServer (sync and async), `orsim serve-openrouter`, and the physics/streaming units."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from simulator.openrouter import synth
from simulator.openrouter.physics import Physics, parse_physics
from simulator.openrouter.server import SimServer
from simulator.openrouter.state import QueueSpec, SimConfig, SimState
from simulator.openrouter.streaming import render_stream


def test_sim_server_sync_context():
    with SimServer(SimConfig(api_keys=["sk-or-only"]), api_key="sk-or-only") as sim:
        assert sim.base_url.startswith("http://127.0.0.1:") and sim.base_url.endswith("/api/v1")
        assert sim.port > 0
        with sim.client() as c:
            assert (
                c.post("/responses", json={"model": "openai/gpt-4o", "input": "x"}).status_code
                == 200
            )
        assert len(sim.journal()) == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(sim.base_url + "/models", timeout=2)


async def test_sim_server_async_context():
    async with SimServer() as sim:
        sim.enqueue(synth.Script(text="async queued"))
        async with httpx.AsyncClient() as c:
            r = await c.post(
                sim.base_url + "/responses",
                json={"model": "openai/gpt-4o", "input": "x"},
                headers={"Authorization": f"Bearer {sim.api_key}"},
            )
        assert r.json()["output_text"] == "async queued"


def test_two_servers_are_independent():
    with SimServer() as a, SimServer() as b:
        a.enqueue({"status": 500})
        assert a.port != b.port
        assert len(a.state.pending()) == 1 and b.state.pending() == []


def test_fixture_gives_fresh_state(openrouter_sim):
    assert openrouter_sim.journal() == [] and openrouter_sim.state.pending() == []
    assert openrouter_sim.config == SimConfig()


def test_cli_serve_prints_url_and_serves():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "serve-openrouter", "--port", "0",
         "--fault", "rate_limit;count=1", "--physics", "tps=10000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v1")
        body = {"model": "openai/gpt-4o", "input": "cli"}
        auth = {"Authorization": "Bearer sk-or-v1-x"}
        assert httpx.post(url + "/responses", json=body, headers=auth).status_code == 429
        assert httpx.post(url + "/responses", json=body, headers=auth).json()["output_text"] == (
            "You said: cli"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--fault", "boom"], "boom"),
        (["--physics", "tps=0"], "tps"),
        (["--cassette", "/nope.yaml"], "cassette"),
    ],
)
def test_cli_serve_bad_options_exit_2(args, fragment):
    proc = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "serve-openrouter", *args],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2
    assert fragment in proc.stderr


def test_physics_delays_are_seeded_and_shaped():
    events = synth.build_events(synth.Script(text="one two three four", chunk_words=1))
    p = Physics(ttft=2.0, tps=10, jitter=0.5, seed=4, keepalive_every=0.5)
    assert p.keepalive_delays() == [0.0, 0.5, 0.5, 0.5]
    d1, d2 = p.event_delays(events), p.event_delays(events)
    assert d1 == d2 and d1[0] == 0.5
    pairs = [(d, e) for d, e in zip(d1, events, strict=True) if e["type"].endswith(".delta")]
    for d, e in pairs:
        base = max(1, synth.estimate_tokens(e["delta"])) / 10
        assert base * 0.5 <= d <= base * 1.5
    delta_delays = [d for d, _ in pairs]
    assert len(set(delta_delays)) > 1  # jitter varies them
    other = [d for d, e in zip(d1[1:], events[1:], strict=True) if not e["type"].endswith("delta")]
    assert set(other) == {0.0}
    assert Physics().instant and not p.instant
    assert Physics(seed=5).event_delays(events) == [0.0] * len(events)


def test_parse_physics():
    assert parse_physics("ttft=0.5; tps=40,jitter=0.1") == {"ttft": 0.5, "tps": 40.0, "jitter": 0.1}
    for bad in ("ttft", "jitter=2", "speed=1"):
        with pytest.raises(ValueError):
            parse_physics(bad)


def test_render_stream_counts_keepalives_and_done():
    events = synth.build_events(synth.Script(text="a"))
    chunks = render_stream(events, Physics(), keepalives=3)
    assert [c.data for c in chunks[:3]] == [synth.KEEPALIVE] * 3
    assert chunks[-1].data == synth.DONE and len(chunks) == 3 + len(events) + 1


def test_state_enqueue_forms_and_take_order():
    s = SimState()
    s.enqueue(synth.Script(text="1"), {"status": 500}, QueueSpec(events=[]))
    kinds = []
    while (spec := s.take()[0]) is not None:
        kinds.append("script" if spec.script else "status" if spec.status else "events")
    assert kinds == ["script", "status", "events"]


def test_journal_keeps_only_the_newest_entries():
    s = SimState(SimConfig(journal_limit=2))
    for n in range(3):
        s.record("GET", f"/p{n}", "", {"authorization": "Bearer sk-or-secret"}, None)
    assert [e["path"] for e in s.journal()] == ["/p1", "/p2"]
    assert all(e["headers"]["authorization"] == "[redacted]" for e in s.journal())


async def test_create_app_in_process_with_asgi_transport():
    from simulator.openrouter.app import create_app

    app = create_app(SimConfig(api_keys=["sk-or-asgi"]))
    app.state.sim.enqueue({"script": {"text": "over ASGI"}})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim/api/v1") as c:
        r = await c.post(
            "/responses",
            json={"model": "openai/gpt-4o", "input": "x", "stream": True},
            headers={"Authorization": "Bearer sk-or-asgi"},
        )
    assert r.status_code == 200 and b"over ASGI" in r.content
    assert app.state.sim.journal()[0]["headers"]["authorization"] == "[redacted]"


STARTER = Path(__file__).resolve().parents[2] / "cassettes" / "text-plain.yaml"


@pytest.mark.skipif(not STARTER.exists(), reason="starter cassettes absent")
def test_cli_serve_replays_a_cassette():
    from simulator.cassettes.format import load_cassette

    body = load_cassette(STARTER).interactions[0].request.body
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "serve-openrouter", "--cassette", str(STARTER)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        url = proc.stdout.readline().strip()
        auth = {"Authorization": "Bearer sk-or-v1-x"}
        r = httpx.post(url + "/responses", json=body, headers=auth, timeout=10)
        assert r.status_code == 200 and r.content.rstrip().endswith(b"data: [DONE]")
        miss = httpx.post(url + "/responses", json=body, headers=auth, timeout=10)
        assert miss.status_code == 400 and miss.headers["x-sim-no-match"] == "1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
