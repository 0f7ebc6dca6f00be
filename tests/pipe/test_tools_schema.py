"""Strict-mode schema normalisation and argument checks (pure units), plus the registry and
the replay of a round's items."""

from __future__ import annotations

import copy

import pytest

from pipe.stream import RunOutcome
from pipe.toolloop import chat_tool_calls, done_label, replay_items, running_label
from pipe.tools import ToolRegistry, ToolResult, format_output
from pipe.toolschema import argument_problems, strict_schema
from pipe.wire import OutputItem


def test_strict_schema_requires_everything_and_makes_optional_nullable():
    schema = {
        "type": "object",
        "properties": {
            "q": {"type": "string"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "filters": {
                "type": "object",
                "properties": {"tag": {"type": "string"}, "min": {"type": "number"}},
                "required": ["tag"],
            },
            "ids": {"type": "array", "items": {"properties": {"id": {"type": "integer"}}}},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "ref": {"$ref": "#/$defs/Point"},
        },
        "required": ["q"],
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}}},
    }
    original = copy.deepcopy(schema)
    strict = strict_schema(schema)
    assert strict is not None
    assert schema == original  # the tool's own schema is never changed
    out = strict.schema
    assert strict.optional == frozenset({"unit", "filters", "ids", "either", "ref"})
    assert out["required"] == ["q", "unit", "filters", "ids", "either", "ref"]
    assert out["additionalProperties"] is False
    props = out["properties"]
    assert props["q"] == {"type": "string"}
    assert props["unit"] == {"type": ["string", "null"], "enum": ["c", "f", None]}
    assert props["filters"]["type"] == ["object", "null"]
    assert props["filters"]["required"] == ["tag", "min"]
    assert props["filters"]["additionalProperties"] is False
    assert props["filters"]["properties"]["min"] == {"type": ["number", "null"]}
    item = props["ids"]["items"]
    assert item["type"] == "object" and item["required"] == ["id"]  # type inferred
    assert item["additionalProperties"] is False
    assert {"type": "null"} in props["either"]["anyOf"]
    assert props["ref"] == {"anyOf": [{"$ref": "#/$defs/Point"}, {"type": "null"}]}
    point = out["$defs"]["Point"]
    assert point["required"] == ["x"] and point["additionalProperties"] is False


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "additionalProperties": True},
        {"type": "object", "properties": {"m": {"type": "object", "additionalProperties": {}}}},
        {"type": "object", "properties": {"x": {"oneOf": [{"type": "string"}]}}},
        {"type": "object", "properties": {"x": {}}},  # untyped: anything goes
        {"type": "array", "items": {"type": "string"}},  # the root must be an object
        {"type": "object", "properties": {"x": {"type": "string"}}, "allOf": []},
    ],
)
def test_schemas_that_cannot_be_strict_are_refused(schema):
    assert strict_schema(schema) is None


def test_empty_parameters_become_an_empty_strict_object():
    assert strict_schema(None).schema == {
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
    }


def test_argument_problems():
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"enum": ["c", "f"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city"],
        "additionalProperties": False,
    }
    assert argument_problems({"city": "Oslo", "days": 3, "tags": ["a"]}, schema) == []
    assert argument_problems({}, schema) == ["missing required property 'city' in arguments"]
    assert argument_problems({"city": "x", "days": True}, schema) == [
        "arguments.days must be integer, got boolean"
    ]
    assert argument_problems({"city": "x", "unit": "k"}, schema) == [
        "arguments.unit must be one of ['c', 'f'], got 'k'"
    ]
    assert argument_problems({"city": "x", "tags": ["a", 2]}, schema) == [
        "arguments.tags[1] must be string, got integer"
    ]
    assert argument_problems({"city": "x", "extra": 1}, schema) == [
        "unexpected property 'extra' in arguments"
    ]
    assert argument_problems([1], schema) == ["arguments must be object, got array"]
    assert argument_problems({"n": 1.5}, {"properties": {"n": {"type": "number"}}}) == []
    assert argument_problems({"a": 1}, {}) == []  # no schema: nothing to check
    many = {"type": "object", "required": [f"p{n}" for n in range(20)]}
    assert len(argument_problems({}, many)) == 5  # capped


def test_registry_from_owui_skips_entries_without_a_callable():
    async def f(x: int) -> int:
        return x

    registry = ToolRegistry.from_owui(
        {
            "f": {"callable": f, "spec": {"name": "f", "parameters": {"type": "object"}}},
            "direct_tool": {"direct": True, "server": {}, "spec": {"name": "direct_tool"}},
            "bare": f,
        }
    )
    assert registry.names == ["bare", "f"]
    assert registry.entries["bare"].parameters == {"type": "object", "properties": {}}
    assert not ToolRegistry.from_owui(None) and not ToolRegistry.from_owui([1, 2])


def test_format_output():
    assert format_output("as is", 100) == "as is"
    assert format_output({"a": "é"}, 100) == '{"a": "é"}'
    assert format_output({1, 2}, 100) in ("[1, 2]", "[2, 1]")
    assert format_output(b"bytes", 100) == '"bytes"'
    assert format_output(object, 100).startswith('"<class')
    capped = format_output("y" * 150, 100)
    assert capped.startswith("y" * 100 + "\n[output truncated: 150 characters")


def test_replay_keeps_output_order_and_every_field():
    reasoning = OutputItem(
        type="reasoning",
        id="rs_1",
        summary=[{"type": "summary_text", "text": "t"}],
        encrypted_content="enc",
        format="anthropic-claude-v1",
        signature="sig",
    )
    fc = OutputItem(
        type="function_call", id="fc_1", call_id="c1", name="f", arguments="{}", status="completed"
    )
    search = OutputItem(type="openrouter:web_search", id="ws_1", status="completed")
    outcome = RunOutcome(
        function_calls=[fc], reasoning_items=[reasoning], output=[reasoning, search, fc]
    )
    items = [i.model_dump(exclude_none=True) for i in replay_items(outcome)]
    assert [i["type"] for i in items] == ["reasoning", "openrouter:web_search", "function_call"]
    assert items[0]["signature"] == "sig" and items[0]["format"] == "anthropic-claude-v1"
    assert items[2] == {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "c1",
        "name": "f",
        "arguments": "{}",
        "status": "completed",
    }
    # Without a final output list (some providers), the collected items are used.
    fallback = replay_items(RunOutcome(function_calls=[fc], reasoning_items=[reasoning]))
    assert [i.type for i in fallback] == ["reasoning", "function_call"]


def test_labels_and_chat_shape():
    calls = [
        OutputItem(type="function_call", call_id=f"c{n}", name=name, arguments=None)
        for n, name in enumerate(["a", "a", "b"])
    ]
    assert running_label(calls) == "Running a ×2, b…"
    assert chat_tool_calls(calls)[0] == {
        "index": 0,
        "id": "c0",
        "type": "function",
        "function": {"name": "a", "arguments": "{}"},
    }
    results = [ToolResult("c0", "a", "x"), ToolResult("c1", "b", "e", error_kind="timeout")]
    assert done_label(results) == "Ran a, b (1 failed: b)"
