"""
title: Cross-talk Pipe (deliberately broken)
"""

# Answers each load-test chat with the tokens of the PREVIOUS chat's nonce: the bug a shared
# buffer or a mixed-up stream would cause. The load test must call that a failure.

import re
import time

from pydantic import BaseModel

_last_nonce = {"value": "first0"}


class Pipe:
    class Valves(BaseModel):
        pass

    def __init__(self):
        self.valves = self.Valves()

    def pipes(self):
        return [{"id": "openai.gpt-4o-mini", "name": "Mixed"}]

    async def pipe(self, body: dict):
        text = body["messages"][-1]["content"]
        nonce = re.search(r"nonce=(\w+)", text).group(1)
        tokens = int(re.search(r"tokens=(\d+)", text).group(1))
        answer_for, _last_nonce["value"] = _last_nonce["value"], nonce
        for seq in range(tokens):
            yield f"{answer_for}.{seq}@{time.time_ns() // 1000:016d} "
