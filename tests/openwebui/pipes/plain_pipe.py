"""
title: Plain Test Pipe
author: orsim
version: 0.1.0
description: Streams a fixed reply in several text chunks, echoing the last user message.
"""

from pydantic import BaseModel


class Pipe:
    class Valves(BaseModel):
        PREFIX: str = "echo"

    def __init__(self):
        self.valves = self.Valves()

    async def pipe(self, body: dict):
        messages = body.get("messages") or []
        last = messages[-1]["content"] if messages else ""
        yield f"{self.valves.PREFIX}: "
        for word in str(last).split():
            yield word + " "
        yield f"(model={body.get('model')}, stream={body.get('stream')})"
