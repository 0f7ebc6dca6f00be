"""
title: Tool Call Test Pipe
author: orsim
version: 0.1.0
description: Streams an OpenAI tool_calls delta; once a tool result is in the history, answers.
"""

import time


def _chunk(model, delta, finish=None):
    return {
        "id": "chatcmpl-tool",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class Pipe:
    async def pipe(self, body: dict):
        model = body.get("model")
        messages = body.get("messages") or []
        if messages and messages[-1].get("role") == "tool":
            yield f"tool said: {messages[-1].get('content')}"
            return
        call = {
            "index": 0,
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        }
        yield _chunk(model, {"role": "assistant", "tool_calls": [call]})
        for piece in ['{"city": ', '"Paris"}']:
            delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            yield _chunk(model, delta)
        yield _chunk(model, {}, finish="tool_calls")
