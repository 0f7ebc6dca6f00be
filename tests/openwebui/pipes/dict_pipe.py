"""
title: Dict Test Pipe
author: orsim
version: 0.1.0
description: Returns a complete chat.completion dict (the non-streaming shape).
"""


class Pipe:
    async def pipe(self, body: dict):
        messages = body.get("messages") or []
        last = messages[-1]["content"] if messages else ""
        return {
            "id": "dict-pipe-1",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": f"dict reply to: {last}"},
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        }
