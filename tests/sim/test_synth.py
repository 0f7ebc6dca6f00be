"""simulator.openrouter.synth: canonical event lists from scripts."""

from __future__ import annotations

import json

import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter, ValidationError

from simulator.openrouter import synth
from simulator.openrouter.synth import Script

EVENT = TypeAdapter(ResponseStreamEvent)


def types(events):
    return [e["type"] for e in events]


def strict_check(events):
    """Every event validates strictly against openai-python's typed union."""
    for e in events:
        EVENT.validate_python(e)


def test_plain_text_canonical_order():
    events = synth.build_events(Script(text="Hello big world"))
    assert types(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    created = events[0]["response"]
    assert created["output"] == [] and created["usage"] is None
    assert created["status"] == "in_progress" and created["completed_at"] is None
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(d["delta"] for d in deltas) == "Hello big world"
    assert all(d["logprobs"] == [] for d in deltas)
    final = events[-1]["response"]
    assert final["output_text"] == "Hello big world"
    assert final["usage"]["cost"] > 0
    assert final["usage"]["total_tokens"] == (
        final["usage"]["input_tokens"] + final["usage"]["output_tokens"]
    )
    strict_check(events)
    Response.model_validate(final)


def test_deterministic_and_seeded_ids():
    a = synth.build_events(Script(text="x", seed=1))
    b = synth.build_events(Script(text="x", seed=1))
    c = synth.build_events(Script(text="x", seed=2))
    assert a == b
    assert a[0]["response"]["id"] != c[0]["response"]["id"]
    assert a[0]["response"]["id"].startswith("resp_")
    assert a[2]["item"]["id"].startswith("msg_")


def test_response_id_override():
    events = synth.build_events(Script(text="x"), response_id="resp_given")
    assert {e["response"]["id"] for e in events if "response" in e} == {"resp_given"}


def test_chunk_words_groups_words_and_keeps_text():
    assert synth.split_chunks("a b c d e", 2) == ["a b ", "c d ", "e"]
    assert "".join(synth.split_chunks("  lead  and trail  ", 1)) == "  lead  and trail  "
    assert synth.split_chunks("", 3) == []


def test_reasoning_summary_then_text():
    events = synth.build_events(Script(reasoning="think hard", text="ok", encrypted_reasoning=True))
    t = types(events)
    assert t[2:8] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ]
    assert t[8] == "response.output_item.done" and events[8]["item"]["type"] == "reasoning"
    item = events[8]["item"]
    assert item["id"].startswith("rs_") and item["encrypted_content"].startswith("orsim-enc-v1.")
    assert item["summary"] == [{"type": "summary_text", "text": "think hard"}]
    msg_added = events[9]
    assert msg_added["item"]["type"] == "message" and msg_added["output_index"] == 1
    strict_check(events)


def test_raw_reasoning_uses_reasoning_text_events():
    events = synth.build_events(
        Script(
            reasoning="raw thoughts", reasoning_style="raw", reasoning_format="anthropic-claude-v1"
        )
    )
    t = types(events)
    assert "response.reasoning_text.delta" in t and "response.reasoning_text.done" in t
    assert "response.reasoning_summary_text.delta" not in t
    final = events[-1]["response"]["output"][0]
    assert final["content"] == [{"type": "reasoning_text", "text": "raw thoughts"}]
    assert final["format"] == "anthropic-claude-v1"
    strict_check(events)


def test_summary_in_done_only_has_no_summary_events():
    events = synth.build_events(
        Script(reasoning="hidden", reasoning_style="summary_in_done_only", text="hi")
    )
    assert not any(e["type"].startswith("response.reasoning_summary") for e in events)
    done = next(e for e in events if e["type"] == "response.output_item.done")
    assert done["item"]["summary"][0]["text"] == "hidden"


def test_late_close_reasoning_after_text():
    events = synth.build_events(Script(reasoning="late", reasoning_style="late_close", text="a b"))
    t = types(events)
    last_text = max(i for i, x in enumerate(t) if x == "response.output_text.delta")
    rs_done = next(
        i
        for i, e in enumerate(events)
        if e["type"] == "response.output_item.done" and e["item"]["type"] == "reasoning"
    )
    assert rs_done > last_text
    assert t.index("response.reasoning_summary_text.done") > last_text
    assert [o["type"] for o in events[-1]["response"]["output"]] == ["reasoning", "message"]


def test_parallel_function_calls_consecutive_indices():
    script = Script(
        function_calls=[
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "get_time", "arguments": '{"tz":"UTC"}', "call_id": "call_fixed"},
        ]
    )
    events = synth.build_events(script)
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert [(a["output_index"], a["item"]["type"]) for a in added] == [
        (0, "function_call"),
        (1, "function_call"),
    ]
    assert added[0]["item"]["arguments"] == "" and added[0]["item"]["status"] == "in_progress"
    dones = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [d["name"] for d in dones] == ["get_weather", "get_time"]
    assert json.loads(dones[0]["arguments"]) == {"city": "Paris"}
    out = events[-1]["response"]["output"]
    assert out[1]["call_id"] == "call_fixed" and out[0]["call_id"].startswith("call_")
    assert out[0]["id"].startswith("fc_")
    args = "".join(
        e["delta"]
        for e in events
        if e["type"] == "response.function_call_arguments.delta" and e["output_index"] == 0
    )
    assert args == out[0]["arguments"]
    strict_check(events)


def test_web_search_with_citations():
    script = Script(
        web_search=True,
        text="Paris is the capital.",
        citations=[{"url": "https://example.org/paris", "title": "Paris", "content": "cap"}],
    )
    events = synth.build_events(script)
    t = types(events)
    assert t[3:6] == [
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
    ]
    ann = next(e for e in events if e["type"] == "response.output_text.annotation.added")
    assert ann["annotation"]["type"] == "url_citation" and ann["annotation_index"] == 0
    assert ann["annotation"]["content"] == "cap"
    msg = events[-1]["response"]["output"][1]
    assert msg["content"][0]["annotations"][0]["url"] == "https://example.org/paris"
    strict_check(events)


def test_incomplete_status():
    events = synth.build_events(Script(text="cut", status="incomplete"))
    assert events[-1]["type"] == "response.incomplete"
    resp = events[-1]["response"]
    assert resp["incomplete_details"] == {"reason": "max_output_tokens"}
    assert resp["output"][0]["status"] == "incomplete"


def test_usage_overrides_and_defaults():
    u = synth.build_response(
        Script(text="abcd" * 10, usage={"input_tokens": 100, "cached_tokens": 40, "cost": 0.5})
    )["usage"]
    assert u["input_tokens"] == 100 and u["output_tokens"] == 10
    assert u["input_tokens_details"]["cached_tokens"] == 40 and u["cost"] == 0.5


def test_build_response_is_terminal_object():
    resp = synth.build_response(Script(text="hi"))
    Response.model_validate(resp)
    for key in (
        "id",
        "object",
        "created_at",
        "model",
        "status",
        "completed_at",
        "output",
        "error",
        "incomplete_details",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
    ):
        assert key in resp


def test_encoding_and_sentinels():
    frame = synth.encode_event({"type": "x", "sequence_number": 0, "t": "é"})
    assert frame == 'data: {"type":"x","sequence_number":0,"t":"é"}\n\n'.encode()
    assert synth.KEEPALIVE == b": OPENROUTER PROCESSING\n\n"
    assert synth.DONE == b"data: [DONE]\n\n"
    body = synth.encode_stream(synth.build_events(Script(text="a")), keepalives=2)
    assert body.startswith(synth.KEEPALIVE * 2) and body.endswith(synth.DONE)


def test_error_builders():
    flat = synth.error_event("boom", sequence_number=4)
    assert flat == {
        "type": "error",
        "code": "server_error",
        "message": "boom",
        "param": None,
        "sequence_number": 4,
    }
    EVENT.validate_python(flat)
    nested = synth.nested_error_event("boom")
    assert nested["error"] == {"code": "server_error", "message": "boom"}
    failed = synth.failed_event(message="down", error_type="provider_unavailable")
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error_type"] == "provider_unavailable"
    assert failed["response"]["error"] == {"code": "server_error", "message": "down"}
    EVENT.validate_python(failed)


def test_renumber_fills_missing_only():
    out = synth.renumber([{"type": "a"}, {"type": "b", "sequence_number": 9}])
    assert [e["sequence_number"] for e in out] == [0, 9]


def test_script_rejects_unknown_fields():
    with pytest.raises(ValidationError):
        Script(txt="typo")
