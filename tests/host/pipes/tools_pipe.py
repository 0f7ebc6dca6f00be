"""
title: Tools Pipe
description: Calls __tools__ itself, or streams tool_calls for the host's native tool loop.
"""

import json


def _chunk(delta):
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


class Pipe:
    async def pipe(self, body: dict, __tools__=None):
        messages = body["messages"]
        last = messages[-1]
        if last.get("role") == "tool":
            yield f"tool said {last['content']}"
            return
        if last["content"] == "direct":
            spec_names = sorted(t["spec"]["name"] for t in __tools__.values())
            result = await __tools__["add"]["callable"](a=2, b=3)
            weather = await __tools__["weather"]["callable"](city="Oslo")
            yield f"specs={spec_names} add={result} weather={weather} body_tools={len(body.get('tools', []))}"
            return
        yield _chunk({"content": "Let me check. "})
        yield _chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "add", "arguments": ""},
                    }
                ]
            }
        )
        yield _chunk(
            {
                "tool_calls": [
                    {"index": 0, "function": {"arguments": json.dumps({"a": 20, "b": 22})}}
                ]
            }
        )
