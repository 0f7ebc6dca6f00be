"""
title: Instance Pipe
description: Reports the worker pid and this Pipe instance's id; counts calls per instance.
"""

import asyncio
import os
import uuid

from pydantic import BaseModel


class Pipe:
    class Valves(BaseModel):
        DELAY_MS: int = 0

    def __init__(self):
        self.valves = self.Valves()
        self.instance_id = uuid.uuid4().hex
        self.calls = 0

    async def pipe(self, body: dict):
        self.calls += 1
        if self.valves.DELAY_MS:
            await asyncio.sleep(self.valves.DELAY_MS / 1000)
        yield f"pid={os.getpid()} instance={self.instance_id} calls={self.calls}"
