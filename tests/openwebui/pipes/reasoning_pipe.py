"""
title: Reasoning Test Pipe
author: orsim
version: 0.1.0
description: Streams reasoning_content deltas, then content deltas, then a usage chunk.
"""

import time
import uuid


def _chunk(model, delta, finish=None, usage=None):
    chunk = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        chunk["usage"] = usage
    return chunk


class Pipe:
    async def pipe(self, body: dict):
        model = body.get("model")
        for part in ["Let me ", "think about ", "this."]:
            yield _chunk(model, {"reasoning_content": part})
        for part in ["The answer ", "is 42."]:
            yield _chunk(model, {"content": part})
        yield _chunk(
            model,
            {},
            finish="stop",
            usage={"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        )
