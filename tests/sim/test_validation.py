"""Request validation and authentication: what OpenRouter rejects, the fake rejects."""

from __future__ import annotations

import json

import httpx
import pytest

from simulator.openrouter.sealing import seal
from simulator.openrouter.state import SimConfig


def post(sim, body, *, auth="default"):
    headers = {}
    if auth == "default":
        headers["Authorization"] = f"Bearer {sim.api_key}"
    elif auth is not None:
        headers["Authorization"] = auth
    return httpx.post(f"{sim.base_url}/responses", json=body, headers=headers, timeout=10)


OK = {"model": "openai/gpt-4o", "input": "hi"}
CALL = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{}"}


def reject(sim, body, fragment, status=400):
    r = post(sim, body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert fragment in err["message"], err
    assert err["code"] == status and err["error_type"]
    return err


@pytest.mark.parametrize(
    "auth, message",
    [
        (None, "Missing Authentication header"),
        ("Bearer", "Missing Authentication header"),
        ("Basic abc", "Missing Authentication header"),
        ("Bearer not-an-openrouter-key", "User not found."),
    ],
)
def test_auth_rejections(openrouter_sim, auth, message):
    r = post(openrouter_sim, OK, auth=auth)
    assert r.status_code == 401
    assert r.json()["error"] == {
        "code": 401,
        "message": message,
        "error_type": "authentication",
        "http_status": 401,
    }


def test_configured_keys_only(openrouter_sim):
    openrouter_sim.state.config = SimConfig(api_keys=["sk-or-v1-good"])
    assert post(openrouter_sim, OK, auth="Bearer sk-or-v1-good").status_code == 200
    assert post(openrouter_sim, OK, auth="Bearer sk-or-v1-other").status_code == 401


def test_auth_checked_before_validation(openrouter_sim):
    assert post(openrouter_sim, {"store": True}, auth=None).status_code == 401


def test_store_true(openrouter_sim):
    reject(openrouter_sim, {**OK, "store": True}, "'store' must be false")


def test_store_false_is_fine(openrouter_sim):
    assert post(openrouter_sim, {**OK, "store": False}).status_code == 200


def test_previous_response_id(openrouter_sim):
    err = reject(openrouter_sim, {**OK, "previous_response_id": "resp_1"}, "previous_response_id")
    assert err["param"] == "previous_response_id"
    assert post(openrouter_sim, {**OK, "previous_response_id": None}).status_code == 200


def test_missing_model(openrouter_sim):
    reject(openrouter_sim, {"input": "hi"}, "Missing required parameter: 'model'.")


def test_models_list_alone_names_the_model(openrouter_sim):
    body = {"models": ["openai/gpt-4o-mini", "openai/gpt-4o"], "input": "hi"}
    assert post(openrouter_sim, body).json()["model"] == "openai/gpt-4o-mini"
    reject(openrouter_sim, {"models": [], "input": "hi"}, "Missing required parameter")


def test_unknown_model(openrouter_sim):
    err = reject(openrouter_sim, {**OK, "model": "nope/none"}, "not a valid model ID")
    assert err["availability"]["code"] == "model_not_found"
    assert err["availability"]["requested_models"] == ["nope/none"]


@pytest.mark.parametrize(
    "model",
    ["openai/gpt-4o:nitro", "anthropic/claude-4-sonnet-20250522", "openai/gpt-oss-20b:free"],
)
def test_variants_and_canonical_slugs_resolve(openrouter_sim, model):
    assert post(openrouter_sim, {**OK, "model": model}).status_code == 200


def test_model_check_can_be_disabled(openrouter_sim):
    openrouter_sim.state.config = SimConfig(check_models=False)
    assert post(openrouter_sim, {**OK, "model": "my/own"}).status_code == 200


@pytest.mark.parametrize(
    "patch, fragment",
    [
        ({"input": 5}, "input"),
        ({"stream": "yes"}, "stream"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": 3}, "temperature"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"include": ["everything"]}, "include"),
        ({"reasoning": {"effort": "huge"}}, "reasoning.effort"),
        ({"text": {"verbosity": "loud"}}, "text.verbosity"),
        ({"metadata": {"k": 1}}, "metadata.k"),
        ({"user": "u" * 300}, "user"),
        ({"service_tier": "gold"}, "service_tier"),
        ({"tools": [{"name": "f"}]}, "tools[0].type"),
        ({"tools": [{"type": "function", "parameters": {}}]}, "tools[0].name"),
        ({"tools": [{"type": "function", "name": "f"}]}, "tools[0].parameters"),
        ({"plugins": [{"enabled": True}]}, "plugins[0].id"),
    ],
)
def test_wrong_types(openrouter_sim, patch, fragment):
    err = reject(openrouter_sim, {**OK, **patch}, fragment)
    assert err["error_type"] == "invalid_request"


@pytest.mark.parametrize(
    "items, fragment",
    [
        ([{"type": "carrier_pigeon"}], "Invalid input item type 'carrier_pigeon'"),
        ([{"content": "no role or type"}], "Invalid input item type None"),
        ([{"role": "robot", "content": "x"}], "invalid role"),
        ([{"role": "user", "content": 5}], "content"),
        ([{"role": "user", "content": [{"type": "output_text", "text": "x"}]}], "content part"),
        ([{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}], "content part"),
        ([{"role": "user", "content": [{"type": "input_text"}]}], "text"),
        ([{"role": "user", "content": [{"type": "input_image"}]}], "image_url"),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "input_image", "image_url": "u", "detail": "x"}],
                }
            ],
            "detail",
        ),
        ([{**CALL, "arguments": {"a": 1}}], "arguments"),
        ([{"type": "function_call_output", "call_id": "call_9", "output": "r"}], "call_9"),
        ([{"type": "function_call_output", "output": "r"}], "call_id"),
        ([CALL, {"type": "function_call_output", "call_id": "call_1", "output": 3}], "output"),
        ([{"type": "reasoning", "id": "rs_1"}], "summary"),
    ],
)
def test_bad_input_items(openrouter_sim, items, fragment):
    err = reject(openrouter_sim, {**OK, "input": items}, fragment)
    assert err["param"].startswith("input[")


def test_output_before_call_is_rejected(openrouter_sim):
    items = [{"type": "function_call_output", "call_id": "call_1", "output": "r"}, CALL]
    reject(openrouter_sim, {**OK, "input": items}, "call_1")


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (seal("rs_other", "r"), "did not match the target item id"),  # moved to another item
        (seal("rs_1", "r")[:-3] + "abc", "could not be verified"),  # corrupted
        ("gAAAAABfOreignBlobFromAnotherProvider", "could not be verified"),  # foreign
    ],
)
def test_reasoning_blob_must_be_sealed_for_its_own_item(openrouter_sim, blob, message):
    items = [
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": blob},
    ]
    r = post(openrouter_sim, {"model": "openai/gpt-4o", "input": items})
    assert r.status_code == 400
    error = r.json()["error"]
    assert message in error["message"]
    assert json.loads(error["metadata"]["raw"])["error"]["code"] == "invalid_encrypted_content"


def test_full_valid_history_is_accepted(openrouter_sim):
    items = [
        {"role": "system", "content": "sys"},
        {"role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "look"},
                {
                    "type": "input_image",
                    "image_url": "data:image/png;base64,AA==",
                    "detail": "auto",
                },
                {
                    "type": "input_file",
                    "filename": "a.pdf",
                    "file_data": "data:application/pdf;base64,AA==",
                },
                {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}},
            ],
        },
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [],
            "encrypted_content": seal("rs_1", "r"),
            "format": "unknown",
        },
        CALL,
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        {"type": "openrouter:web_search", "id": "x", "status": "completed"},
        {
            "type": "message",
            "role": "assistant",
            "id": "msg_1",
            "status": "completed",
            "content": [{"type": "output_text", "text": "a", "annotations": []}],
        },
        {"role": "user", "content": "next"},
    ]
    body = {
        **OK,
        "model": "google/gemini-2.5-pro",  # takes images, files and audio, and tools
        "input": items,
        "include": ["reasoning.encrypted_content"],
        "reasoning": {"effort": "xhigh", "summary": "auto", "max_tokens": 100},
        "text": {"format": {"type": "text"}, "verbosity": "low"},
        "tools": [{"type": "function", "name": "f", "parameters": None}, {"type": "web_search"}],
        "provider": {"order": ["OpenAI"]},
        "plugins": [{"id": "web", "enabled": False}],
        "session_id": "s1",
        "metadata": {"a": "b"},
        "some_future_field": 1,
    }
    r = post(openrouter_sim, body)
    assert r.status_code == 200, r.text
    assert r.json()["output_text"] == "You said: next"


def test_non_object_json_body(openrouter_sim):
    r = httpx.post(
        f"{openrouter_sim.base_url}/responses",
        json=[1, 2],
        headers={"Authorization": f"Bearer {openrouter_sim.api_key}"},
    )
    assert r.status_code == 400 and "JSON object" in r.json()["error"]["message"]
