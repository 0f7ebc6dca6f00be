"""Tool calls in a chat history: one id per call, and only calls with their outputs.

OpenRouter rejects a `function_call` without its `function_call_output` (and the reverse), and
two items with the same id.
"""

from __future__ import annotations

import re

from .logs import get_logger
from .wire import FunctionCallItem, FunctionCallOutputItem, InputItem


def call_item_id(call_id: str) -> str:
    return "fc_" + re.sub(r"[^A-Za-z0-9_-]", "_", call_id)


def unique_call_ids(items: list[InputItem]) -> list[InputItem]:
    """A history that repeats a tool-call id (some clients reuse `call_0` every turn) would
    send two items with one id, which providers reject: a repeated call gets a new id, and
    the outputs after it follow it; a second output for the same call is dropped."""
    uses: dict[str, int] = {}
    current: dict[str, str] = {}  # id in the history -> the id of its latest call
    answered: set[str] = set()
    out: list[InputItem] = []
    for item in items:
        if isinstance(item, FunctionCallItem):
            uses[item.call_id] = uses.get(item.call_id, 0) + 1
            new = (
                item.call_id if uses[item.call_id] == 1 else f"{item.call_id}_{uses[item.call_id]}"
            )
            current[item.call_id] = new
            if new != item.call_id:
                item = item.model_copy(update={"call_id": new, "id": call_item_id(new)})
        elif isinstance(item, FunctionCallOutputItem) and item.call_id in current:
            new = current[item.call_id]
            if new in answered:
                get_logger().info("dropped a second output for tool call %s", new)
                continue
            answered.add(new)
            if new != item.call_id:
                item = item.model_copy(update={"call_id": new})
        out.append(item)
    return out


def pair_calls(items: list[InputItem]) -> list[InputItem]:
    calls = {i.call_id for i in items if isinstance(i, FunctionCallItem)}
    outputs = {i.call_id for i in items if isinstance(i, FunctionCallOutputItem)}
    paired = calls & outputs
    kept = [
        i
        for i in items
        if not isinstance(i, FunctionCallItem | FunctionCallOutputItem) or i.call_id in paired
    ]
    if len(kept) != len(items):
        get_logger().info("dropped %d unpaired tool call/output items", len(items) - len(kept))
    return kept
