"""The UI path's native tool loop (middleware.py): run streamed tool calls, build the next turn.

Open WebUI runs the loop whenever a round streamed `tool_calls`, tools or not: an unknown
tool gets `Error: Tool "{name}" not found.` as its result, and the pipe is called again.
"""

from __future__ import annotations

import json
from typing import Any

from simulator.host.jsoncodec import dumps
from simulator.host.reduce import Reducer


def message_error(content: str, *, done: bool = False) -> dict[str, Any]:
    """`chat:message:error`; the turn-level failure handler in main.py adds `done: True`."""
    data: dict[str, Any] = {"error": {"content": content}}
    if done:
        data["done"] = True
    return {"type": "chat:message:error", "data": data}


def round_result(items: list[tuple[str, Any]], params: dict | None) -> tuple[list[dict], str]:
    """The tool calls and the text one round streamed."""
    reducer = Reducer((params or {}).get("reasoning_tags"), derive_host_events=False)
    for kind, item in items:
        if kind == "chunk":
            reducer.chunk(item)
    message = reducer.result()
    return [c for c in message.tool_calls if c["function"]["name"]], message.content


def tool_result_content(result: Any) -> str:
    """`middleware.tool_result_content`: '' for falsy, JSON for dicts and lists, else str."""
    if not result:
        return ""
    if isinstance(result, dict | list):
        return dumps(result)
    return str(result)


async def run_tool_calls(calls: list[dict], text: str, prepared: Any) -> list[dict]:
    """Run one round's calls; return the assistant message and the tool results."""
    tools = prepared.metadata.get("tools") or {}
    results = []
    for call in calls:
        name = call["function"]["name"]
        if name not in tools:
            content = f'Error: Tool "{name}" not found.'
        else:
            try:
                args = json.loads(call["function"]["arguments"] or "{}")
                content = tool_result_content(await tools[name]["callable"](**args))
            except Exception as exc:
                content = f"Error: {exc}"
        results.append({"role": "tool", "tool_call_id": call["id"], "content": content})
    calls = [{"id": c["id"], "type": "function", "function": dict(c["function"])} for c in calls]
    return [{"role": "assistant", "content": text, "tool_calls": calls}, *results]
