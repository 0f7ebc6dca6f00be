"""Helpers for the tool-loop tests: `__tools__` built as Open WebUI 0.12.4 builds it, and
readers of what the pipe sent upstream."""

from __future__ import annotations

import json
from typing import Any


def script(**fields: Any) -> dict[str, Any]:
    return {"script": {"seed": 1, **fields}}


def call(name: str, arguments: Any, call_id: str) -> dict[str, Any]:
    return {"name": name, "arguments": arguments, "call_id": call_id}


def owui_tools(*tools: tuple[str, Any, dict[str, Any] | None]) -> dict[str, Any]:
    """`__tools__` as Open WebUI 0.12.4 builds it: name -> {tool_id, callable, spec, metadata}."""
    out = {}
    for name, fn, parameters in tools:
        out[name] = {
            "tool_id": "test_tools",
            "callable": fn,
            "spec": {
                "name": name,
                "description": f"The {name} tool",
                "parameters": parameters or {"type": "object", "properties": {}},
            },
            "metadata": {"file_handler": False, "citation": False},
        }
    return out


CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def sent(sim, n: int = -1) -> dict[str, Any]:
    return sim.requests_to("/responses")[n]["body"]


def outputs_of(body: dict[str, Any]) -> dict[str, str]:
    return {i["call_id"]: i["output"] for i in body["input"] if i["type"] == "function_call_output"}


def error_of(output: str) -> dict[str, Any]:
    return json.loads(output)["error"]
