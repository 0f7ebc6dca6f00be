"""
title: Return Shapes
description: Returns or yields a different shape for each scripted user message.
"""

import asyncio

from pydantic import BaseModel
from starlette.responses import StreamingResponse


class Item(BaseModel):
    id: str = "x"
    object: str = "custom"


def _chunk(delta, finish=None):
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class Pipe:
    async def pipe(self, body: dict):
        mode = body["messages"][-1]["content"]
        if mode == "raise":
            raise RuntimeError("upstream exploded")
        if mode == "str":
            return "plain string"
        if mode == "empty":
            return ""
        if mode == "dict":
            return {
                "id": "done-1",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "a dict"},
                        "finish_reason": "stop",
                    }
                ],
            }
        if mode == "none":
            return None
        if mode == "list":
            return ["a", "b"]
        if mode == "model":
            return Item()
        if mode == "sync_gen":
            return (part for part in ["one ", "two"])
        if mode == "mixed":
            return self._mixed()
        if mode == "async_gen":
            return self._agen(["alpha ", "beta"])
        if mode == "raise_mid":
            return self._raise_mid()
        if mode == "raise_first":
            return self._raise_first()
        if mode == "streaming_response":
            return StreamingResponse(self._raw(), media_type="text/event-stream")
        if mode == "reasoning":
            return self._reasoning()
        if mode == "think_tags":
            return self._agen(["<think>plan ", "steps</think>", "Answer"])
        return f"unknown mode {mode}"

    async def _agen(self, parts):
        for part in parts:
            await asyncio.sleep(0)
            yield part

    def _mixed(self):
        yield "text "
        yield _chunk({"content": "chunk "})
        yield Item()
        yield b"bytes "
        yield 'data: {"custom": true}'
        yield ""
        yield {"event": {"type": "status", "data": {"description": "inline event", "done": True}}}

    async def _raise_mid(self):
        yield "partial "
        raise RuntimeError("mid-stream failure")

    async def _raise_first(self):
        raise RuntimeError("before first yield")
        yield "never"

    async def _raw(self):
        yield 'data: {"raw": 1}\n\n'
        yield b'data: {"raw": 2}\n\n'

    async def _reasoning(self):
        yield _chunk({"reasoning_content": "Let me think. "})
        yield _chunk({"reasoning_content": "Done thinking."})
        yield _chunk({"content": "The answer."})
        yield {
            "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
            "choices": [],
        }
        yield _chunk(
            {
                "annotations": [
                    {"type": "url_citation", "url_citation": {"url": "https://e.x/a", "title": "A"}}
                ]
            }
        )
        yield "!"
