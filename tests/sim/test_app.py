"""The fake OpenRouter's /api/v1/responses route, queue, journal and default answer."""

from __future__ import annotations

import time

import httpx
import pytest

from simulator.openrouter import synth
from simulator.openrouter.state import SimConfig
from tests.sim.sse import events, frames, has_done


def post(sim, body, *, key=None, headers=None, **kw):
    h = {"Authorization": f"Bearer {key or sim.api_key}", **(headers or {})}
    return httpx.post(f"{sim.base_url}/responses", json=body, headers=h, timeout=10, **kw)


BASIC = {"model": "openai/gpt-4o", "input": "hello there"}


def test_default_answer_streaming(openrouter_sim):
    r = post(openrouter_sim, {**BASIC, "stream": True})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-generation-id"].startswith("gen-")
    assert frames(r.content)[0] == b": OPENROUTER PROCESSING"
    assert has_done(r.content)
    evs = events(r.content)
    assert evs[0]["type"] == "response.created" and evs[-1]["type"] == "response.completed"
    assert [e["sequence_number"] for e in evs] == list(range(len(evs)))
    assert evs[-1]["response"]["output_text"] == "You said: hello there"
    assert evs[-1]["response"]["usage"]["cost"] > 0
    assert evs[-1]["response"]["model"] == "openai/gpt-4o"


def test_default_answer_gets_fresh_ids_and_time_per_response(openrouter_sim):
    a = post(openrouter_sim, BASIC)
    b = post(openrouter_sim, BASIC)
    assert a.headers["content-type"] == "application/json"
    assert a.json()["id"] != b.json()["id"]
    assert a.json()["output"][0]["id"] != b.json()["output"][0]["id"]
    assert a.headers["x-generation-id"] != b.headers["x-generation-id"]
    assert abs(a.json()["created_at"] - time.time()) < 60
    assert a.json()["output_text"] == b.json()["output_text"] == "You said: hello there"


def test_a_seed_makes_the_default_answer_replayable(openrouter_sim):
    openrouter_sim.state.config = SimConfig(seed=7)
    a = post(openrouter_sim, BASIC)
    b = post(openrouter_sim, BASIC)
    assert a.json() == b.json()
    assert a.headers["x-generation-id"] == b.headers["x-generation-id"]
    other = post(openrouter_sim, {**BASIC, "input": "something else"})
    assert other.json()["id"] != a.json()["id"]


def test_default_answer_reasoning_when_asked(openrouter_sim):
    body = {**BASIC, "model": "openai/gpt-5", "reasoning": {"effort": "low"}}
    out = post(openrouter_sim, body).json()["output"]
    assert [o["type"] for o in out] == ["reasoning", "message"]
    assert (
        out
        and post(openrouter_sim, {**BASIC, "model": "openai/gpt-5"}).json()["output"][0]["type"]
        == "message"
    )


def test_default_answer_uses_last_user_message_and_echoes_settings(openrouter_sim):
    body = {
        "model": "openai/gpt-4o",
        "instructions": "be brief",
        "temperature": 0.3,
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "input": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "last"}],
            },
        ],
    }
    resp = post(openrouter_sim, body).json()
    assert resp["output_text"] == "You said: last"
    assert resp["instructions"] == "be brief" and resp["temperature"] == 0.3
    assert resp["tools"][0]["name"] == "f"


def test_queue_script_then_default(openrouter_sim):
    openrouter_sim.enqueue({"script": {"text": "queued one"}}, synth.Script(text="queued two"))
    assert post(openrouter_sim, BASIC).json()["output_text"] == "queued one"
    second = post(openrouter_sim, {**BASIC, "stream": True})
    assert events(second.content)[-1]["response"]["output_text"] == "queued two"
    assert post(openrouter_sim, BASIC).json()["output_text"] == "You said: hello there"


def test_queued_script_takes_request_model_unless_set(openrouter_sim):
    openrouter_sim.enqueue({"script": {"text": "a"}}, {"script": {"text": "b", "model": "x/y"}})
    assert post(openrouter_sim, BASIC).json()["model"] == "openai/gpt-4o"
    assert post(openrouter_sim, BASIC).json()["model"] == "x/y"


def test_queue_over_http_and_listing(openrouter_sim):
    url = openrouter_sim.root_url + "/_sim/queue"
    r = httpx.post(url, json=[{"script": {"text": "via http"}}, {"status": 503}])
    assert r.json() == {"queued": 2, "pending": 2}
    assert len(httpx.get(url).json()) == 2
    assert post(openrouter_sim, BASIC).json()["output_text"] == "via http"
    err = post(openrouter_sim, BASIC)
    assert err.status_code == 503 and err.headers["retry-after"] == "1"
    assert err.json()["error"]["code"] == 503
    assert httpx.get(url).json() == []


def test_queue_raw_events_get_sequence_numbers(openrouter_sim):
    raw = synth.build_events(synth.Script(text="raw"))
    for e in raw:
        del e["sequence_number"]
    raw.insert(2, {"type": "response.debug", "debug": {"x": 1}})
    openrouter_sim.enqueue({"events": raw, "keepalives": 3})
    r = post(openrouter_sim, {**BASIC, "stream": True})
    assert frames(r.content)[:3] == [b": OPENROUTER PROCESSING"] * 3
    evs = events(r.content)
    assert [e["sequence_number"] for e in evs] == list(range(len(evs)))
    assert evs[2]["type"] == "response.debug"


def test_queue_raw_events_without_terminal_non_streaming_is_explained(openrouter_sim):
    openrouter_sim.enqueue({"events": [{"type": "response.created", "response": {"id": "r"}}]})
    r = post(openrouter_sim, BASIC)
    assert r.status_code == 500
    assert "no response.completed" in r.json()["error"]["message"]


def test_queue_http_error_with_custom_body_and_headers(openrouter_sim):
    body = {"error": {"code": "invalid_prompt", "message": "Bad"}, "metadata": None}
    openrouter_sim.enqueue({"status": 400, "body": body, "headers": {"X-Custom": "1"}})
    r = post(openrouter_sim, BASIC)
    assert r.status_code == 400 and r.json() == body and r.headers["x-custom"] == "1"


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({}, "exactly one of"),
        ({"script": {"text": "a"}, "status": 500}, "exactly one of"),
        ({"script": {"txt": "a"}}, "txt"),
        ({"status": 42}, "not an HTTP status"),
        ({"status": 500, "fault": "nope"}, "nope"),
    ],
)
def test_queue_rejects_bad_specs(openrouter_sim, spec, fragment):
    r = httpx.post(openrouter_sim.root_url + "/_sim/queue", json=[spec])
    assert r.status_code == 422
    assert fragment in r.json()["error"]["message"]
    assert openrouter_sim.state.pending() == []


def test_queue_rejects_non_json_and_non_list(openrouter_sim):
    url = openrouter_sim.root_url + "/_sim/queue"
    assert httpx.post(url, content=b"{nope").status_code == 422
    assert httpx.post(url, json="text").status_code == 422


def test_journal_records_and_redacts(openrouter_sim):
    post(openrouter_sim, BASIC, headers={"X-Title": "t", "Cookie": "c=1"})
    httpx.get(openrouter_sim.base_url + "/models")
    entries = httpx.get(openrouter_sim.root_url + "/_sim/requests").json()
    assert [e["path"] for e in entries] == ["/api/v1/responses", "/api/v1/models"]
    first = entries[0]
    assert first["method"] == "POST" and first["body"] == BASIC
    assert first["headers"]["authorization"] == "[redacted]"
    assert first["headers"]["cookie"] == "[redacted]"
    assert first["headers"]["x-title"] == "t"
    assert openrouter_sim.api_key not in str(entries)
    assert isinstance(first["time"], float)
    assert openrouter_sim.requests_to("/responses")[0]["body"] == BASIC


def test_reset_clears_journal_queue_and_counters(openrouter_sim):
    openrouter_sim.enqueue({"script": {"text": "x"}})
    hdr = {"X-Sim-Fault": "rate_limit;count=1"}
    assert post(openrouter_sim, BASIC, headers=hdr).status_code == 429
    assert httpx.post(openrouter_sim.root_url + "/_sim/reset").json() == {"ok": True}
    assert openrouter_sim.journal() == [] and openrouter_sim.state.pending() == []
    assert post(openrouter_sim, BASIC, headers=hdr).status_code == 429  # counter restarted


def test_malformed_json_is_journaled_as_text(openrouter_sim):
    r = httpx.post(
        f"{openrouter_sim.base_url}/responses",
        content=b'{"model": ',
        headers={"Authorization": f"Bearer {openrouter_sim.api_key}"},
    )
    assert r.status_code == 400
    assert "Invalid JSON" in r.json()["error"]["message"]
    assert openrouter_sim.journal()[0]["body"] == '{"model": '


def test_unknown_route_is_404(openrouter_sim):
    assert httpx.get(openrouter_sim.base_url + "/nothing").status_code == 404


def test_physics_header_shapes_stream_without_changing_events(openrouter_sim):
    openrouter_sim.state.config = SimConfig(seed=1)  # the same ids for both
    plain = post(openrouter_sim, {**BASIC, "stream": True})
    paced = post(
        openrouter_sim,
        {**BASIC, "stream": True},
        headers={"X-Sim-Physics": "ttft=0.02;tps=2000;jitter=0.5;seed=3;keepalive_every=0.01"},
    )
    assert events(paced.content) == events(plain.content)
    comments = [f for f in frames(paced.content) if f.startswith(b":")]
    assert len(comments) == 2  # ttft 0.02 / keepalive_every 0.01


def test_physics_header_rejects_garbage(openrouter_sim):
    r = post(openrouter_sim, {**BASIC, "stream": True}, headers={"X-Sim-Physics": "tps=-1"})
    assert r.status_code == 400 and "X-Sim-Physics" in r.json()["error"]["message"]


def test_queued_physics_and_app_physics(openrouter_sim):
    openrouter_sim.state.config = SimConfig(physics={"tps": 5000.0, "jitter": 0.1})
    openrouter_sim.enqueue({"script": {"text": "a b c"}, "ttft": 0.01, "tps": 4000, "seed": 1})
    r = post(openrouter_sim, {**BASIC, "stream": True})
    assert events(r.content)[-1]["response"]["output_text"] == "a b c"
    r2 = post(openrouter_sim, {**BASIC, "stream": True})
    assert events(r2.content)[-1]["type"] == "response.completed"
