"""Fault injection: per request header, per queued spec and app-wide."""

from __future__ import annotations

import json

import httpx
import pytest

from simulator.openrouter.faults import Fault, FaultSyntaxError, coerce_faults, parse_faults
from simulator.openrouter.state import SimConfig
from tests.sim.sse import events, frames, has_done

BASIC = {"model": "openai/gpt-4o", "input": "one two three four five", "stream": True}


def post(sim, body=BASIC, fault=None, headers=None):
    h = {"Authorization": f"Bearer {sim.api_key}", **(headers or {})}
    if fault:
        h["X-Sim-Fault"] = fault
    return httpx.post(f"{sim.base_url}/responses", json=body, headers=h, timeout=10)


# ------------------------------------------------------------------ syntax


def test_parse_fault_syntax():
    faults = parse_faults("rate_limit;count=2;retry_after=1.5, latency;seconds=0")
    assert faults == [
        Fault(kind="rate_limit", count=2, retry_after=1.5),
        Fault(kind="latency", seconds=0.0),
    ]
    assert parse_faults(" ") == []


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("explode", "kind"),
        ("rate_limit;count", "not key=value"),
        ("rate_limit;count=two", "count"),
        ("rate_limit;colour=red", "colour"),
    ],
)
def test_parse_fault_errors(text, fragment):
    with pytest.raises(FaultSyntaxError, match=fragment):
        parse_faults(text)


def test_coerce_faults_accepts_all_forms():
    f = Fault(kind="disconnect")
    assert coerce_faults([f, {"kind": "malformed"}, "latency"]) == [
        f,
        Fault(kind="malformed"),
        Fault(kind="latency"),
    ]
    assert coerce_faults(None) == []


def test_bad_fault_header_is_400(openrouter_sim):
    r = post(openrouter_sim, fault="explode")
    assert r.status_code == 400 and "X-Sim-Fault" in r.json()["error"]["message"]


# ------------------------------------------------------------------ before the response


def test_rate_limit_first_n_requests(openrouter_sim):
    hdr = "rate_limit;count=2;retry_after=3"
    statuses = [post(openrouter_sim, fault=hdr) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    err = statuses[0]
    assert err.headers["retry-after"] == "3"
    body = err.json()["error"]
    assert body["code"] == 429 and body["error_type"] == "rate_limit_exceeded"
    assert body["availability"]["code"] == "capacity_exhausted"
    assert body["availability"]["retry_after"] == 3.0


def test_rate_limit_without_count_always_fires(openrouter_sim):
    for _ in range(3):
        assert post(openrouter_sim, fault="rate_limit").status_code == 429


@pytest.mark.parametrize("status", [500, 502, 503, 504, 529])
def test_server_errors(openrouter_sim, status):
    r = post(openrouter_sim, fault=f"server_error;status={status}")
    assert r.status_code == status
    err = r.json()["error"]
    assert err["code"] == status and err["message"]
    assert ("retry-after" in r.headers) == (status == 503)


def test_server_error_custom_message_and_retry_after(openrouter_sim):
    r = post(
        openrouter_sim, fault="server_error;status=502;retry_after=2;message=down;error_type=x"
    )
    assert r.headers["retry-after"] == "2"
    assert r.json()["error"]["message"] == "down" and r.json()["error"]["error_type"] == "x"


def test_latency_fault_still_answers(openrouter_sim):
    r = post(openrouter_sim, fault="latency;seconds=0.05")
    assert r.status_code == 200 and has_done(r.content)


def test_app_wide_faults_from_config(openrouter_sim):
    openrouter_sim.state.config = SimConfig(faults="server_error;status=502;count=1")
    assert post(openrouter_sim).status_code == 502
    assert post(openrouter_sim).status_code == 200


def test_queued_spec_fault_with_count_holds_the_spec(openrouter_sim):
    openrouter_sim.enqueue(
        {"script": {"text": "finally"}, "fault": "rate_limit;count=2;retry_after=1"},
        {"script": {"text": "next"}},
    )
    assert post(openrouter_sim).status_code == 429
    assert post(openrouter_sim).status_code == 429
    assert events(post(openrouter_sim).content)[-1]["response"]["output_text"] == "finally"
    assert events(post(openrouter_sim).content)[-1]["response"]["output_text"] == "next"


def test_queued_spec_fault_without_count_consumes_spec(openrouter_sim):
    openrouter_sim.enqueue({"script": {"text": "x"}, "fault": {"kind": "server_error"}})
    assert post(openrouter_sim).status_code == 503
    assert post(openrouter_sim).status_code == 200


# ------------------------------------------------------------------ inside the stream


def test_error_event_after_n(openrouter_sim):
    r = post(openrouter_sim, fault="error_event;after=3;message=upstream broke")
    assert r.status_code == 200 and has_done(r.content)
    evs = events(r.content)
    assert len(evs) == 4
    assert evs[-1] == {
        "type": "error",
        "code": "server_error",
        "message": "upstream broke",
        "param": None,
        "sequence_number": 3,
    }


def test_nested_error_event(openrouter_sim):
    evs = events(
        post(openrouter_sim, fault="nested_error;after=2;code=rate_limit_exceeded").content
    )
    assert evs[-1]["error"] == {"code": "rate_limit_exceeded", "message": "Internal server error"}
    assert evs[-1]["type"] == "error" and evs[-1]["sequence_number"] == 2


def test_failed_event(openrouter_sim):
    r = post(openrouter_sim, fault="failed;after=4;error_type=provider_overloaded;message=busy")
    assert has_done(r.content)
    evs = events(r.content)
    last = evs[-1]
    assert last["type"] == "response.failed" and last["sequence_number"] == 4
    assert last["response"]["status"] == "failed"
    assert last["response"]["error"] == {"code": "server_error", "message": "busy"}
    assert last["response"]["error_type"] == "provider_overloaded"
    assert last["response"]["id"] == evs[0]["response"]["id"]


def test_disconnect_after_n(openrouter_sim):
    r = post(openrouter_sim, fault="disconnect;after=5")
    assert r.status_code == 200
    evs = events(r.content)
    assert len(evs) == 5 and not has_done(r.content)
    assert all(e["type"] not in ("response.completed", "response.failed") for e in evs)


def test_malformed_frame(openrouter_sim):
    r = post(openrouter_sim, fault="malformed;after=2")
    raw = [f for f in frames(r.content) if f.startswith(b"data:")]
    bad = raw[2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad[5:])
    good = [json.loads(f[5:]) for f in raw if f != bad and f != b"data: [DONE]"]
    assert [e["sequence_number"] for e in good] == list(range(len(good)))
    assert good[-1]["type"] == "response.completed"


@pytest.mark.parametrize("after", [0, 3])
def test_keepalive_stretch(openrouter_sim, after):
    r = post(openrouter_sim, fault=f"keepalive;after={after};comments=4;seconds=0.02")
    fs = frames(r.content)
    data_idx = [i for i, f in enumerate(fs) if f.startswith(b"data:")]
    # the comments sit right before event number `after`
    start = data_idx[after]
    assert fs[start - 4 : start] == [b": OPENROUTER PROCESSING"] * 4
    assert events(r.content)[-1]["type"] == "response.completed"


def test_keepalive_stretch_at_end(openrouter_sim):
    n = len(events(post(openrouter_sim).content))
    fs = frames(post(openrouter_sim, fault=f"keepalive;after={n};comments=2").content)
    assert fs[-3:] == [b": OPENROUTER PROCESSING", b": OPENROUTER PROCESSING", b"data: [DONE]"]


def test_late_reasoning_fault(openrouter_sim):
    evs = events(post(openrouter_sim, fault="late_reasoning").content)
    t = [e["type"] for e in evs]
    rs_done = next(
        i
        for i, e in enumerate(evs)
        if e["type"] == "response.output_item.done" and e["item"]["type"] == "reasoning"
    )
    assert rs_done > max(i for i, x in enumerate(t) if x == "response.output_text.delta")


def test_summary_in_done_fault(openrouter_sim):
    evs = events(post(openrouter_sim, fault="summary_in_done").content)
    assert not any(e["type"].startswith("response.reasoning_summary") for e in evs)
    rs = next(e for e in evs if e["type"] == "response.output_item.done")
    assert rs["item"]["type"] == "reasoning" and rs["item"]["summary"][0]["text"]


def test_faults_on_queued_script(openrouter_sim):
    openrouter_sim.enqueue(
        {
            "script": {"text": "a b c", "reasoning": "r"},
            "fault": "late_reasoning, disconnect;after=6",
        }
    )
    evs = events(post(openrouter_sim).content)
    assert len(evs) == 6


def test_faults_on_queued_raw_events(openrouter_sim):
    from simulator.openrouter import synth

    raw = synth.build_events(synth.Script(text="a b c"))
    openrouter_sim.enqueue({"events": raw, "fault": "error_event;after=1"})
    evs = events(post(openrouter_sim).content)
    assert [e["type"] for e in evs] == ["response.created", "error"]


@pytest.mark.parametrize("fault", ["error_event", "nested_error", "failed;error_type=timeout"])
def test_mid_generation_failure_non_streaming_is_200_failed_with_output_so_far(
    openrouter_sim, fault
):
    """OpenRouter reports a generation that fails part-way in-band: HTTP 200, status failed,
    the items completed before the failure and the usage incurred up to it."""
    openrouter_sim.enqueue(
        {
            "script": {
                "text": "one two three four",
                "function_calls": [{"name": "f", "arguments": {"x": 1}}],
            }
        }
    )
    body = {
        **BASIC,
        "stream": False,
        "tools": [{"type": "function", "name": "f", "parameters": {}}],
    }
    r = post(
        openrouter_sim,
        body,
        fault=fault.replace("error_event", "error_event;after=13")
        .replace("nested_error", "nested_error;after=13")
        .replace("failed;", "failed;after=13;"),
    )
    assert r.status_code == 200, r.text
    resp = r.json()
    assert resp["status"] == "failed"
    assert resp["error_type"] in ("provider_unavailable", "timeout")
    assert resp["error"]["code"] == "server_error"
    assert [i["type"] for i in resp["output"]] == ["message"]  # the call never completed
    assert resp["output_text"] == "one two three four"
    usage = resp["usage"]
    assert 0 < usage["output_tokens"] < 10 and usage["cost"] > 0


def test_streamed_failure_carries_output_and_usage_so_far(openrouter_sim):
    openrouter_sim.enqueue({"script": {"text": "one two three four"}})
    r = post(openrouter_sim, {**BASIC, "stream": True}, fault="failed;after=9")
    failed = events(r.content)[-1]
    assert failed["type"] == "response.failed"
    resp = failed["response"]
    assert resp["output"] == [] and resp["output_text"] == ""
    assert resp["usage"]["output_tokens"] > 0  # deltas were streamed before the failure
    assert resp["usage"]["input_tokens"] > 0 and resp["usage"]["cost"] > 0


def test_disconnect_non_streaming_sends_truncated_json(openrouter_sim):
    r = post(openrouter_sim, {**BASIC, "stream": False}, fault="disconnect")
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
