"""`__tools__` entries and the UI path's native tool loop."""

from __future__ import annotations

import json

ASK = [{"role": "user", "content": "direct"}]


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


async def weather(city: str, __user__: dict | None = None) -> dict:
    """Weather for a city."""
    return {"city": city, "user": (__user__ or {}).get("id")}


TOOLS = {"add": add, "weather": {"callable": weather, "tool_id": "wx"}}


async def test_pipe_calls_tools_itself_sync_and_async(make_host):
    t = await make_host("tools_pipe").chat(ASK, tools=TOOLS)
    assert t.message.content == (
        "specs=['add', 'weather'] add=5 weather={'city': 'Oslo', 'user': 'user-1'} body_tools=2"
    )
    assert [(r.name, r.arguments, r.result) for r in t.tool_runs] == [
        ("add", {"a": 2, "b": 3}, 5),
        ("weather", {"city": "Oslo"}, {"city": "Oslo", "user": "user-1"}),
    ]


async def test_tool_entry_shape(make_host):
    host = make_host("tools_pipe")
    prepared = await host.prepare({"model": "tools_pipe", "messages": ASK}, tools=TOOLS)
    entry = prepared.metadata["tools"]["add"]
    assert set(entry) == {"tool_id", "callable", "spec", "metadata"}
    assert entry["spec"] == {
        "name": "add",
        "description": "Add two numbers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    }
    assert prepared.metadata["tools"]["weather"]["tool_id"] == "wx"
    # Reserved args are pre-bound, never part of the model-visible spec.
    assert (
        "__user__" not in prepared.metadata["tools"]["weather"]["spec"]["parameters"]["properties"]
    )
    assert prepared.body["tools"][0] == {"type": "function", "function": entry["spec"]}
    assert prepared.arguments["__tools__"] is prepared.metadata["tools"]


async def test_legacy_function_calling_sends_no_body_tools(make_host):
    host = make_host("tools_pipe")
    prepared = await host.prepare(
        {"model": "tools_pipe", "messages": ASK, "params": {"function_calling": "legacy"}},
        tools=TOOLS,
    )
    assert "tools" not in prepared.body and set(prepared.arguments["__tools__"]) == {
        "add",
        "weather",
    }


async def test_a_tool_without_a_callable_is_a_clear_error(make_host):
    import pytest

    with pytest.raises(TypeError, match="needs a callable"):
        await make_host("tools_pipe").chat(ASK, tools={"bad": {"spec": {}}})


async def test_ui_tool_loop_runs_the_calls_and_calls_the_pipe_again(make_host):
    t = await make_host("tools_pipe").chat(
        [{"role": "user", "content": "loop"}], ui=True, tools=TOOLS
    )
    assert len(t.bodies) == 2
    second = t.bodies[1]["messages"]
    assert second[-2] == {
        "role": "assistant",
        "content": "Let me check. ",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "add", "arguments": json.dumps({"a": 20, "b": 22})},
            }
        ],
    }
    assert second[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "42"}
    assert t.bodies[1]["stream"] is True
    assert t.message.content == "Let me check. tool said 42"
    assert t.message.tool_calls[0]["function"]["name"] == "add"


async def test_ui_tool_loop_without_the_tool_reports_it_not_found(make_host):
    t = await make_host("tools_pipe").chat([{"role": "user", "content": "loop"}], ui=True)
    assert t.bodies[1]["messages"][-1]["content"] == 'Error: Tool "add" not found.'
    assert t.message.content == 'Let me check. tool said Error: Tool "add" not found.'


async def test_api_path_passes_tool_calls_through_without_a_loop(make_host):
    t = await make_host("tools_pipe").chat([{"role": "user", "content": "loop"}], tools=TOOLS)
    assert len(t.bodies) == 1 and t.tool_runs == []
    assert t.message.tool_calls[0]["function"]["arguments"] == '{"a": 20, "b": 22}'


async def test_the_iteration_limit_is_reported(make_host):
    t = await make_host("tools_pipe").chat(
        [{"role": "user", "content": "loop"}],
        ui=True,
        tools={"add": lambda a, b: ""},
        max_tool_rounds=0,
    )
    assert len(t.bodies) == 1
    assert t.message.error == "Tool-call limit reached (0 iterations)."
