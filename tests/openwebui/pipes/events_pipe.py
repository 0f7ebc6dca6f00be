"""
title: Events Test Pipe
author: orsim
version: 0.1.0
description: Emits status and citation events around a short streamed answer.
"""

from pydantic import BaseModel


class Pipe:
    class Valves(BaseModel):
        SOURCE_URL: str = "https://example.com/doc"

    def __init__(self):
        self.valves = self.Valves()

    async def pipe(self, body: dict, __event_emitter__=None):
        emit = __event_emitter__
        if emit:
            await emit({"type": "status", "data": {"description": "searching", "done": False}})
            await emit(
                {
                    "type": "citation",
                    "data": {
                        "source": {"name": "Example doc", "url": self.valves.SOURCE_URL},
                        "document": ["The sky is blue."],
                        "metadata": [{"source": self.valves.SOURCE_URL, "name": "Example doc"}],
                    },
                }
            )
        yield "The sky "
        yield "is blue [1]."
        if emit:
            await emit({"type": "status", "data": {"description": "done", "done": True}})
