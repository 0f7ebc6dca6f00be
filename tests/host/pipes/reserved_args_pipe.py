"""
title: Reserved Args
description: Reports which reserved arguments it received and their shapes.
"""

import json

from pydantic import BaseModel


class Pipe:
    class Valves(BaseModel):
        LABEL: str = "default"

    class UserValves(BaseModel):
        NICK: str = "anon"
        LEVEL: int = 1

    def __init__(self):
        self.valves = self.Valves()
        self.seen = []

    async def pipe(
        self,
        body: dict,
        __user__: dict | None = None,
        __request__=None,
        __metadata__: dict | None = None,
        __event_emitter__=None,
        __event_call__=None,
        __chat_id__=None,
        __session_id__=None,
        __message_id__=None,
        __task__=None,
        __task_body__=None,
        __files__=None,
        __tools__=None,
        __oauth_token__=None,
        __model__=None,
        __messages__=None,
        __id__=None,
    ) -> str:
        local = dict(locals())
        report = {
            "passed": sorted(k for k, v in local.items() if k.startswith("__") and v is not None)
        }
        user = dict(__user__ or {})
        valves = user.pop("valves", None)
        report["user_keys"] = sorted(user)
        report["user_valves_type"] = type(valves).__name__ if valves is not None else None
        report["user_valves"] = valves.model_dump() if valves is not None else None
        report["valves"] = self.valves.model_dump()
        report["metadata"] = {
            k: v for k, v in (__metadata__ or {}).items() if k not in ("model", "tools")
        }
        report["metadata_model_id"] = (__metadata__ or {}).get("model", {}).get("id")
        report["ids"] = [__chat_id__, __session_id__, __message_id__]
        report["task"] = [__task__, __task_body__]
        report["files"] = __files__
        report["tools"] = {k: sorted(v) for k, v in (__tools__ or {}).items()}
        report["body"] = body
        report["request_has_app_state"] = hasattr(getattr(__request__, "app", None), "state")
        report["event_call"] = (
            await __event_call__(
                {"type": "confirmation", "data": {"title": "ok?", "message": "sure?"}}
            )
            if __event_call__
            else None
        )
        return json.dumps(report, default=str)
