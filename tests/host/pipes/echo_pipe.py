"""
title: Echo Test Pipe
author: test
version: 0.1.0
license: MIT
description: Minimal async-generator pipe (the live recipe's probe pipe).
"""

from collections.abc import AsyncGenerator

from pydantic import BaseModel, Field


class Pipe:
    class Valves(BaseModel):
        PREFIX: str = Field(default="echo", description="Prefix for reply chunks")

    def __init__(self):
        self.valves = self.Valves()

    async def pipe(
        self, body: dict, __user__: dict, __event_emitter__=None
    ) -> AsyncGenerator[str, None]:
        if __event_emitter__:
            await __event_emitter__(
                {"type": "status", "data": {"description": "thinking...", "done": False}}
            )
        msgs = body.get("messages", [])
        last = msgs[-1]["content"] if msgs else ""
        yield f"{self.valves.PREFIX}: "
        yield f"emitter={'yes' if __event_emitter__ else 'none'} "
        yield f"user={__user__.get('email')} "
        yield f"model={body.get('model')} stream={body.get('stream')} "
        yield f"you said: {last}"
        if __event_emitter__:
            await __event_emitter__(
                {"type": "status", "data": {"description": "done", "done": True}}
            )
