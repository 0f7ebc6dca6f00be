"""
title: User Valves Test Pipe
author: orsim
version: 0.1.0
description: Answers with an admin valve and a per-user valve that overrides it when set.
"""

from pydantic import BaseModel


class Pipe:
    class Valves(BaseModel):
        GREETING: str = "Hello"
        NICKNAME: str = "friend"

    class UserValves(BaseModel):
        NICKNAME: str = ""

    def __init__(self):
        self.valves = self.Valves()

    async def pipe(self, body: dict, __user__: dict | None = None):
        user_valves = (__user__ or {}).get("valves")
        override = getattr(user_valves, "NICKNAME", "") if user_valves is not None else ""
        nickname = override or self.valves.NICKNAME
        yield f"{self.valves.GREETING}, "
        yield f"{nickname}!"
        yield f" (user valves: {type(user_valves).__name__})"
