"""Tool calls handed to Open WebUI (pass-through mode and API clients' own tools) and strict
tool schemas, through the Pipe's public contract against the fake OpenRouter over loopback."""

from __future__ import annotations

from typing import Any

from tests.pipe.helpers import (  # noqa: F401
    Recorder,
    chat_body,
    make_pipe,
    run_pipe,
)
from tests.pipe.tool_helpers import CITY, call, error_of, outputs_of, owui_tools, script, sent  # noqa: F401


async def test_passthrough_hands_calls_to_open_webui_and_continues_from_its_messages(
    openrouter_sim,
):
    ran: list[str] = []

    async def get_weather(city: str) -> str:
        ran.append(city)
        return "rainy"

    tools = owui_tools(("get_weather", get_weather, CITY))
    p = make_pipe(openrouter_sim, TOOL_EXECUTION_MODE="open_webui", STRICT_TOOL_SCHEMAS=True)
    openrouter_sim.enqueue(
        script(text="Checking.", function_calls=[call("get_weather", {"city": "Oslo"}, "c_pt")])
    )
    body = chat_body(
        "Weather in Oslo?", tools=[{"type": "function", "function": tools["get_weather"]["spec"]}]
    )
    first = await run_pipe(p, body, __tools__=tools)
    assert ran == []  # the pipe does not run tools in this mode
    assert first.finish_reason == "tool_calls"
    handed = [c for c in first.chunks if c["choices"][0]["delta"].get("tool_calls")]
    assert handed[0]["choices"][0]["delta"]["tool_calls"] == [
        {
            "index": 0,
            "id": "c_pt",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
        }
    ]
    offered = sent(openrouter_sim)["tools"][0]
    assert "strict" not in offered  # no strict schemas for Open WebUI's loop

    # Open WebUI ran the tool and calls again with the assistant tool_calls and the result.
    messages = body["messages"] + [
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "c_pt",
                    "type": "function",
                    "function": dict(handed[0]["choices"][0]["delta"]["tool_calls"][0]["function"]),
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c_pt", "content": "rainy"},
    ]
    openrouter_sim.enqueue(script(text="It is rainy in Oslo."))
    second = await run_pipe(p, {**body, "messages": messages}, __tools__=tools)
    assert second.text == "It is rainy in Oslo." and second.finish_reason == "stop"
    items = sent(openrouter_sim)["input"]
    pair = [i for i in items if i["type"] in ("function_call", "function_call_output")]
    assert pair == [
        {
            "type": "function_call",
            "id": "fc_c_pt",
            "call_id": "c_pt",
            "name": "get_weather",
            "arguments": '{"city":"Oslo"}',
        },
        {"type": "function_call_output", "call_id": "c_pt", "output": "rainy"},
    ]


async def test_passthrough_non_streaming_returns_a_completion_with_tool_calls(openrouter_sim):
    openrouter_sim.enqueue(script(function_calls=[call("get_time", {}, "c_t")]))
    p = make_pipe(openrouter_sim, TOOL_EXECUTION_MODE="open_webui")
    result = await p.pipe(
        body=chat_body(
            "time?", stream=False, tools=[{"type": "function", "function": {"name": "get_time"}}]
        ),
        __user__={"id": "u"},
        __metadata__={},
    )
    choice = result["choices"][0]
    assert result["object"] == "chat.completion" and choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [
        {"id": "c_t", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    ]


async def test_strict_schemas_and_nulls_for_optional_arguments(openrouter_sim):
    seen: list[dict[str, Any]] = []

    async def search(query: str, limit: int = 5) -> str:
        seen.append({"query": query, "limit": limit})
        return "results"

    async def free_form(**kwargs: Any) -> str:
        return "ok"

    search_schema = {
        "type": "object",
        "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["query"],
    }
    free_schema = {"type": "object", "additionalProperties": {"type": "string"}}
    openrouter_sim.enqueue(
        script(function_calls=[call("search", {"query": "cats", "limit": None}, "c_s")]),
        script(text="found"),
    )
    out = await run_pipe(
        make_pipe(openrouter_sim, STRICT_TOOL_SCHEMAS=True),
        chat_body("search"),
        __tools__=owui_tools(
            ("search", search, search_schema), ("free_form", free_form, free_schema)
        ),
    )
    assert out.text == "found"
    offered = {t["name"]: t for t in sent(openrouter_sim, -2)["tools"]}
    assert offered["search"]["strict"] is True
    assert offered["search"]["parameters"] == {
        "type": "object",
        "properties": {"query": {"type": "string"}, "limit": {"type": ["integer", "null"]}},
        "required": ["query", "limit"],
        "additionalProperties": False,
    }
    assert "strict" not in offered["free_form"]  # cannot be strict: sent as it is
    assert offered["free_form"]["parameters"] == free_schema
    assert seen == [{"query": "cats", "limit": 5}]  # null for an optional: the default applies


async def test_client_tools_without_registry_are_handed_back(openrouter_sim):
    openrouter_sim.enqueue(script(function_calls=[call("client_fn", {"a": 1}, "c_client")]))
    out = await run_pipe(
        make_pipe(openrouter_sim),
        chat_body("x", tools=[{"type": "function", "function": {"name": "client_fn"}}]),
    )
    assert out.finish_reason == "tool_calls"
    assert len(openrouter_sim.requests_to("/responses")) == 1
