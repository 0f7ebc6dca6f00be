"""Conformance of the fake OpenRouter to what a request asks: one test per rule.

Refusals (what OpenRouter answers instead of 200), the default answer honouring the request,
cost from the catalog, fresh ids, in-band failures, JSON 404s, account routes and rate-limit
headers. Each of these answered 200 / ignored the request before the fake read requests."""

from __future__ import annotations

import json

import httpx
import jsonschema
import pytest

from simulator.openrouter.state import SimConfig


def post(sim, body, *, headers=None, fault=None):
    h = {"Authorization": f"Bearer {sim.api_key}", **(headers or {})}
    if fault:
        h["X-Sim-Fault"] = fault
    return httpx.post(f"{sim.base_url}/responses", json=body, headers=h, timeout=30)


def get(sim, path, **params):
    h = {"Authorization": f"Bearer {sim.api_key}"}
    return httpx.get(f"{sim.base_url}{path}", params=params, headers=h, timeout=10)


TOOL = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
}
IMAGE = {
    "role": "user",
    "content": [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": "data:image/png;base64,AA=="},
    ],
}


def refused(r, status, error_type):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == status and err["error_type"] == error_type, err
    return err


# ---------------------------------------------------------------- refusals


def test_tools_to_a_model_without_tool_support_get_404_no_endpoints(openrouter_sim):
    body = {"model": "google/gemma-3-27b-it:free", "input": "hi", "tools": [TOOL]}
    err = refused(post(openrouter_sim, body), 404, "not_found")
    assert "tool use" in err["message"] and err["availability"]["code"] == "no_endpoints"


def test_an_image_to_a_text_only_model_gets_404_no_endpoints(openrouter_sim):
    err = refused(
        post(openrouter_sim, {"model": "deepseek/deepseek-r1", "input": [IMAGE]}), 404, "not_found"
    )
    assert "image input" in err["message"]


def test_an_image_to_a_vision_model_is_answered(openrouter_sim):
    assert post(openrouter_sim, {"model": "openai/gpt-4o", "input": [IMAGE]}).status_code == 200


def test_input_over_the_context_length_gets_400_context_length_exceeded(openrouter_sim):
    huge = "word " * 500_000  # ~625k tokens by the fake's estimate, for a 128k model
    err = refused(
        post(openrouter_sim, {"model": "openai/gpt-4o", "input": huge}),
        400,
        "context_length_exceeded",
    )
    assert "maximum context length is 128000 tokens" in err["message"]


def test_max_output_tokens_beyond_the_context_gets_400(openrouter_sim):
    body = {"model": "openai/gpt-4o", "input": "hi", "max_output_tokens": 10**7}
    refused(post(openrouter_sim, body), 400, "context_length_exceeded")


def test_a_body_over_the_size_limit_gets_413(openrouter_sim):
    openrouter_sim.state.config = SimConfig(max_body_bytes=1_000_000)
    body = {"model": "openai/gpt-4o", "input": "x" * 1_200_000}
    refused(post(openrouter_sim, body), 413, "payload_too_large")
    assert openrouter_sim.state.journal()[-1]["body"].startswith("<")  # not kept in the journal


def test_the_default_body_limit_refuses_60_megabytes():
    assert SimConfig().max_body_bytes < 60 * 1024 * 1024


@pytest.mark.parametrize("choice", ["sometimes", "any", {"type": "bogus"}, {"type": "function"}])
def test_an_invalid_tool_choice_gets_400(openrouter_sim, choice):
    body = {"model": "openai/gpt-4o", "input": "hi", "tools": [TOOL], "tool_choice": choice}
    err = refused(post(openrouter_sim, body), 400, "invalid_request")
    assert err["param"].startswith("tool_choice")


@pytest.mark.parametrize(
    ("metadata", "param"),
    [({"k" * 65: "v"}, "metadata"), ({"a[b]": "v"}, "metadata"), ({"k": "v" * 513}, "metadata.k")],
)
def test_metadata_over_the_limits_gets_400(openrouter_sim, metadata, param):
    body = {"model": "openai/gpt-4o", "input": "hi", "metadata": metadata}
    assert refused(post(openrouter_sim, body), 400, "invalid_request")["param"] == param


def test_metadata_at_the_limits_is_accepted(openrouter_sim):
    body = {"model": "openai/gpt-4o", "input": "hi", "metadata": {"k" * 64: "v" * 512}}
    assert post(openrouter_sim, body).status_code == 200


def test_an_unknown_tool_type_gets_400(openrouter_sim):
    body = {"model": "openai/gpt-4o", "input": "hi", "tools": [{"type": "teleport"}]}
    assert refused(post(openrouter_sim, body), 400, "invalid_request")["param"] == "tools[0].type"


def test_an_unknown_slug_suffix_is_not_a_model(openrouter_sim):
    err = refused(
        post(openrouter_sim, {"model": "openai/gpt-4o:bogus", "input": "hi"}),
        400,
        "invalid_request",
    )
    assert err["availability"]["code"] == "model_not_found"
    assert post(openrouter_sim, {"model": "openai/gpt-4o:nitro", "input": "hi"}).status_code == 200


# ---------------------------------------------------------------- the default answer


def test_max_output_tokens_stops_the_answer_as_incomplete(openrouter_sim):
    body = {
        "model": "openai/gpt-4o",
        "input": "please echo a long sentence back",
        "max_output_tokens": 1,
    }
    resp = post(openrouter_sim, body).json()
    assert resp["status"] == "incomplete"
    assert resp["incomplete_details"] == {"reason": "max_output_tokens"}
    assert resp["usage"]["output_tokens"] == 1
    assert len(resp["output_text"]) <= 4


def test_max_output_tokens_stops_a_stream_with_response_incomplete(openrouter_sim):
    body = {
        "model": "openai/gpt-4o",
        "input": "a b c d e f g h",
        "max_output_tokens": 2,
        "stream": True,
    }
    frames = [
        ln[6:] for ln in post(openrouter_sim, body).text.splitlines() if ln.startswith("data: {")
    ]
    last = json.loads(frames[-1])
    assert last["type"] == "response.incomplete"
    assert last["response"]["incomplete_details"]["reason"] == "max_output_tokens"


def test_json_schema_format_gets_json_valid_for_the_schema(openrouter_sim):
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "mood": {"enum": ["happy", "sad"]},
            "score": {"type": "number"},
        },
        "required": ["name", "tags", "mood", "score"],
        "additionalProperties": False,
    }
    text = {"format": {"type": "json_schema", "name": "person", "schema": schema, "strict": True}}
    resp = post(openrouter_sim, {"model": "openai/gpt-4o", "input": "hi", "text": text}).json()
    jsonschema.validate(json.loads(resp["output_text"]), schema)


def test_json_object_format_gets_a_json_object(openrouter_sim):
    text = {"format": {"type": "json_object"}}
    resp = post(openrouter_sim, {"model": "openai/gpt-4o", "input": "hi", "text": text}).json()
    assert isinstance(json.loads(resp["output_text"]), dict)


def test_tool_choice_required_gets_a_function_call_with_valid_arguments(openrouter_sim):
    body = {"model": "openai/gpt-4o", "input": "hi", "tools": [TOOL], "tool_choice": "required"}
    out = post(openrouter_sim, body).json()["output"]
    assert [o["type"] for o in out] == ["function_call"]
    assert out[0]["name"] == "get_weather"
    jsonschema.validate(json.loads(out[0]["arguments"]), TOOL["parameters"])


def test_tool_choice_naming_a_function_calls_that_one(openrouter_sim):
    other = {**TOOL, "name": "other"}
    body = {
        "model": "openai/gpt-4o",
        "input": "hi",
        "tools": [TOOL, other],
        "tool_choice": {"type": "function", "name": "other"},
    }
    out = post(openrouter_sim, body).json()["output"]
    assert [(o["type"], o.get("name")) for o in out] == [("function_call", "other")]


def test_tool_choice_auto_still_answers_in_text(openrouter_sim):
    body = {"model": "openai/gpt-4o", "input": "hi", "tools": [TOOL], "tool_choice": "auto"}
    assert [o["type"] for o in post(openrouter_sim, body).json()["output"]] == ["message"]


def test_a_non_reasoning_model_gets_no_reasoning_item(openrouter_sim):
    body = {"model": "openai/gpt-4o", "input": "hi", "reasoning": {"effort": "high"}}
    assert [o["type"] for o in post(openrouter_sim, body).json()["output"]] == ["message"]


def test_encrypted_reasoning_only_when_include_asks(openrouter_sim):
    body = {"model": "openai/gpt-5", "input": "hi", "reasoning": {"effort": "low"}}
    plain = post(openrouter_sim, body).json()["output"][0]
    assert plain["type"] == "reasoning" and "encrypted_content" not in plain
    body["include"] = ["reasoning.encrypted_content"]
    sealed = post(openrouter_sim, body).json()["output"][0]
    assert sealed["encrypted_content"]


def test_openai_reasoning_is_a_summary(openrouter_sim):
    body = {"model": "openai/gpt-5", "input": "hi", "reasoning": {"effort": "low"}}
    item = post(openrouter_sim, body).json()["output"][0]
    assert item["summary"][0]["type"] == "summary_text" and item["format"] == "openai-responses-v1"
    assert "signature" not in item


def test_anthropic_reasoning_is_signed_raw_thinking(openrouter_sim):
    body = {"model": "anthropic/claude-sonnet-4.5", "input": "hi", "reasoning": {"effort": "low"}}
    item = post(openrouter_sim, body).json()["output"][0]
    assert item["summary"] == [] and item["content"][0]["type"] == "reasoning_text"
    assert item["format"] == "anthropic-claude-v1" and item["signature"]


def test_cost_follows_the_catalog_prices(openrouter_sim):
    usage = post(openrouter_sim, {"model": "openai/gpt-4o", "input": "hi"}).json()["usage"]
    expected = usage["input_tokens"] * 2.5e-6 + usage["output_tokens"] * 1e-5
    assert usage["cost"] == pytest.approx(expected)
    free = post(openrouter_sim, {"model": "openai/gpt-oss-20b:free", "input": "hi"}).json()
    assert free["usage"]["cost"] == 0


def test_queued_scripts_get_fresh_ids_unless_seeded(openrouter_sim):
    openrouter_sim.enqueue({"script": {"text": "a"}}, {"script": {"text": "a"}})
    a = post(openrouter_sim, {"model": "openai/gpt-4o", "input": "hi"}).json()
    b = post(openrouter_sim, {"model": "openai/gpt-4o", "input": "hi"}).json()
    assert a["id"] != b["id"]
    openrouter_sim.enqueue(
        {"script": {"text": "a", "seed": 5}}, {"script": {"text": "a", "seed": 5}}
    )
    c = post(openrouter_sim, {"model": "openai/gpt-4o", "input": "hi"}).json()
    d = post(openrouter_sim, {"model": "openai/gpt-4o", "input": "hi"}).json()
    assert c["id"] == d["id"]


# ---------------------------------------------------------------- routes and headers


def test_unknown_routes_answer_json_404(openrouter_sim):
    r = get(openrouter_sim, "/no/such/route")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]["code"] == 404
    r = httpx.delete(f"{openrouter_sim.base_url}/responses", timeout=10)
    assert r.status_code == 405 and r.json()["error"]["code"] == 405


def test_generation_endpoint_reports_what_x_generation_id_points_to(openrouter_sim):
    r = post(openrouter_sim, {"model": "openai/gpt-4o", "input": "hi"})
    gen = get(openrouter_sim, "/generation", id=r.headers["x-generation-id"])
    assert gen.status_code == 200, gen.text
    data = gen.json()["data"]
    assert data["id"] == r.headers["x-generation-id"] and data["upstream_id"] == r.json()["id"]
    assert data["total_cost"] == r.json()["usage"]["cost"]
    assert data["tokens_completion"] == r.json()["usage"]["output_tokens"]
    assert data["model"] == "openai/gpt-4o" and data["streamed"] is False
    missing = get(openrouter_sim, "/generation", id="gen-nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 404


def test_key_and_credits_report_usage(openrouter_sim):
    r = post(openrouter_sim, {"model": "openai/gpt-4o", "input": "hi"})
    cost = r.json()["usage"]["cost"]
    key = get(openrouter_sim, "/key").json()["data"]
    assert key["usage"] == pytest.approx(cost) and openrouter_sim.api_key not in key["label"]
    credits = get(openrouter_sim, "/credits").json()["data"]
    assert credits["total_usage"] == pytest.approx(cost) and credits["total_credits"] > 0
    assert httpx.get(f"{openrouter_sim.base_url}/credits", timeout=10).status_code == 401


def test_a_429_carries_rate_limit_headers(openrouter_sim):
    r = post(openrouter_sim, {"model": "openai/gpt-4o", "input": "hi"}, fault="rate_limit")
    assert r.status_code == 429
    assert r.headers["x-ratelimit-remaining"] == "0"
    assert int(r.headers["x-ratelimit-limit"]) > 0 and int(r.headers["x-ratelimit-reset"]) > 0
    openrouter_sim.enqueue({"status": 429})
    queued = post(openrouter_sim, {"model": "openai/gpt-4o", "input": "hi"})
    assert queued.status_code == 429 and "x-ratelimit-reset" in queued.headers
