"""The pieces of the tool-call loop that are not I/O: what one request's loop may do, how a
finished round becomes the next request's input, and the words the user sees.

The next request replays the round's output items in their original order (reasoning with its
`encrypted_content`, any assistant message, the `function_call`s), then one
`function_call_output` per call. Keeping each reasoning item directly before the item that
followed it is what OpenAI-backed models require to continue a reasoning chain.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from .stream import RunOutcome
from .tools import ToolExecutor, ToolRegistry, ToolResult
from .wire import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputItem,
    OutputItem,
    ReplayItem,
    ResponsesRequest,
)


@dataclass
class ToolSession:
    """What the loop of one request may do. `executor` is None in pass-through mode."""

    registry: ToolRegistry
    executor: ToolExecutor | None
    max_rounds: int = 25

    @property
    def passthrough(self) -> bool:
        return self.executor is None


def replayable_reasoning(item: OutputItem) -> bool:
    """Reasoning can only be continued from its encrypted form (or a provider signature)."""
    extra = item.model_extra or {}
    return bool(extra.get("encrypted_content") or extra.get("signature"))


def _function_call_item(item: OutputItem) -> FunctionCallItem:
    data = item.model_dump(exclude_none=True)
    data["id"] = item.id or "fc_" + (item.call_id or "")
    data["arguments"] = item.arguments if item.arguments is not None else "{}"
    data["name"] = item.name or ""
    data["call_id"] = item.call_id or ""
    return FunctionCallItem(**data)


def replay_items(outcome: RunOutcome) -> list[InputItem]:
    """The round's output as input items, in order (function calls always included)."""
    source = outcome.output or [*outcome.reasoning_items, *outcome.function_calls]
    items: list[InputItem] = []
    seen_calls: set[str] = set()
    for item in source:
        if item.type == "function_call":
            seen_calls.add(item.call_id or "")
            items.append(_function_call_item(item))
        elif item.type == "reasoning":
            if replayable_reasoning(item):
                items.append(ReplayItem(**item.model_dump(exclude_none=True)))
        elif item.type == "message":
            if item.message_text():
                items.append(ReplayItem(**item.model_dump(exclude_none=True)))
        else:  # server-tool items (web search...) are echoed back as received
            items.append(ReplayItem(**item.model_dump(exclude_none=True)))
    for call in outcome.function_calls:  # calls seen only as output_item.done events
        if (call.call_id or "") not in seen_calls:
            items.append(_function_call_item(call))
    return items


def next_request(
    request: ResponsesRequest, outcome: RunOutcome, results: list[ToolResult]
) -> ResponsesRequest:
    """The same request with the round's items and the tools' outputs appended."""
    outputs = [FunctionCallOutputItem(call_id=r.call_id, output=r.output) for r in results]
    return request.model_copy(update={"input": [*request.input, *replay_items(outcome), *outputs]})


def chat_tool_calls(calls: list[OutputItem]) -> list[dict[str, Any]]:
    """Calls in the chat-completions delta shape Open WebUI's own tool loop reads."""
    return [
        {
            "index": n,
            "id": call.call_id or call.id or f"call_{n}",
            "type": "function",
            "function": {"name": call.name or "", "arguments": call.arguments or "{}"},
        }
        for n, call in enumerate(calls)
    ]


def _names(names: list[str]) -> str:
    counts = Counter(names)
    return ", ".join(f"{n} ×{c}" if c > 1 else n for n, c in counts.items())


def running_label(calls: list[OutputItem]) -> str:
    return f"Running {_names([c.name or '?' for c in calls])}…"


def done_label(results: list[ToolResult]) -> str:
    label = f"Ran {_names([r.name or '?' for r in results])}"
    failed = [r for r in results if not r.ok]
    if failed:
        label += f" ({len(failed)} failed: {_names([r.name for r in failed])})"
    return label


def limit_notice(limit: int, calls: list[OutputItem]) -> str:
    return (
        f"*Stopped after {limit} tool round{'s' if limit != 1 else ''} "
        f"(MAX_FUNCTION_CALL_LOOPS = {limit}); the model still wanted to call "
        f"{_names([c.name or '?' for c in calls])}. Ask it to continue, or raise the limit.*"
    )
