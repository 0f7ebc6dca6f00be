"""
title: Task Test Pipe
author: orsim
version: 0.1.0
description: Answers title tasks with JSON, everything else with streamed text.
"""

import json


class Pipe:
    async def pipe(self, body: dict, __task__=None, __task_body__=None):
        if __task__ == "title_generation":
            # Tasks expect a non-streaming answer; a str becomes a chat.completion.
            asked = (__task_body__ or {}).get("messages") or []
            first = asked[0]["content"] if asked else "untitled"
            return json.dumps({"title": f"About {first}"[:40]})
        if __task__:
            return json.dumps({"tags": ["test"]})
        return "normal answer (no task)"
