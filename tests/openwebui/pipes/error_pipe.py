"""
title: Error Test Pipe
author: orsim
version: 0.1.0
description: Fails on purpose. MODE=before raises before any output; MODE=mid raises mid-stream.
"""

from pydantic import BaseModel


class Pipe:
    class Valves(BaseModel):
        MODE: str = "before"

    def __init__(self):
        self.valves = self.Valves()

    async def pipe(self, body: dict):
        # A coroutine (no yield here): an exception raised now is "while calling pipe".
        if self.valves.MODE == "before":
            raise RuntimeError("upstream exploded")
        return self._stream()

    async def _stream(self):
        yield "partial "
        yield "answer "
        raise RuntimeError("mid-stream failure")
