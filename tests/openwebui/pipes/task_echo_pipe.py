"""
title: Task Echo Pipe
author: orsim
version: 0.1.0
description: Answers every task with what it was sent: the body's keys, max_tokens and prompt.
"""

import json


class Pipe:
    async def pipe(self, body: dict, __task__=None):
        messages = body.get("messages") or [{}]
        echo = {
            "task": __task__,
            "keys": sorted(k for k in body if k != "metadata"),
            "max_tokens": body.get("max_tokens"),
            "prompt": messages[0].get("content"),
        }
        return json.dumps(
            {"title": "t", "tags": ["t"], "follow_ups": ["f"], "queries": ["q"], "echo": echo}
        )
