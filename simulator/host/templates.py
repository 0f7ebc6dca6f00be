"""Open WebUI's OpenAI-shaped templates (`utils/misc.py`), key order included.

Key order matters: the host serialises these dicts with `json.dumps`, and the differential
test compares bytes with the real Open WebUI (ids and timestamps aside).
"""

from __future__ import annotations

import time
import uuid
from typing import Any


def chat_message_template(model: str) -> dict[str, Any]:
    return {
        "id": f"{model}-{uuid.uuid4()!s}",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "logprobs": None, "finish_reason": None}],
    }


def chat_chunk_template(
    model: str,
    content: str | None = None,
    reasoning_content: str | None = None,
    tool_calls: list[dict] | None = None,
    usage: dict | None = None,
) -> dict[str, Any]:
    """`openai_chat_chunk_message_template`: an empty chunk is the "stop" chunk."""
    template = chat_message_template(model)
    template["object"] = "chat.completion.chunk"
    choice = template["choices"][0]
    choice["index"] = 0
    choice["delta"] = {}
    if content:
        choice["delta"]["content"] = content
    if reasoning_content:
        choice["delta"]["reasoning_content"] = reasoning_content
    if tool_calls:
        choice["delta"]["tool_calls"] = tool_calls
    if not content and not reasoning_content and not tool_calls:
        choice["finish_reason"] = "stop"
    if usage:
        template["usage"] = usage
    return template


def chat_completion_template(
    model: str,
    message: str | None = None,
    reasoning_content: str | None = None,
    tool_calls: list[dict] | None = None,
    usage: dict | None = None,
) -> dict[str, Any]:
    """`openai_chat_completion_message_template` (non-streaming answers)."""
    template = chat_message_template(model)
    template["object"] = "chat.completion"
    if message is not None:
        template["choices"][0]["message"] = {
            "role": "assistant",
            "content": message,
            **({"reasoning_content": reasoning_content} if reasoning_content else {}),
            **({"tool_calls": tool_calls} if tool_calls else {}),
        }
    template["choices"][0]["finish_reason"] = "tool_calls" if tool_calls else "stop"
    if usage:
        template["usage"] = usage
    return template
