"""
title: Upstream Test Pipe
author: orsim
version: 0.1.0
description: Streams from an OpenRouter-style /responses endpoint at the BASE_URL valve.
"""

import json

import httpx
from pydantic import BaseModel


class Pipe:
    class Valves(BaseModel):
        BASE_URL: str = "https://openrouter.ai/api/v1"
        API_KEY: str = ""
        MODEL: str = "openai/gpt-4o-mini"

    def __init__(self):
        self.valves = self.Valves()

    async def pipe(self, body: dict):
        request = {
            "model": self.valves.MODEL,
            "input": [
                {"type": "message", "role": m["role"], "content": m["content"]}
                for m in body.get("messages") or []
                if isinstance(m.get("content"), str)
            ],
            "stream": True,
        }
        headers = {"Authorization": f"Bearer {self.valves.API_KEY}"}
        url = self.valves.BASE_URL.rstrip("/") + "/responses"
        async with httpx.AsyncClient(timeout=30) as client:
            async with client.stream("POST", url, json=request, headers=headers) as resp:
                if resp.status_code >= 400:
                    raw = await resp.aread()
                    raise RuntimeError(f"upstream {resp.status_code}: {_error_message(raw)}")
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    event = json.loads(data)
                    kind = event.get("type", "")
                    if kind == "response.output_text.delta":
                        yield event["delta"]
                    elif kind in (
                        "response.reasoning_text.delta",
                        "response.reasoning_summary_text.delta",
                    ):
                        yield {
                            "choices": [
                                {"index": 0, "delta": {"reasoning_content": event["delta"]}}
                            ]
                        }
                    elif kind in ("error", "response.error", "response.failed"):
                        raise RuntimeError(
                            f"upstream stream error: {_error_message(data.encode())}"
                        )


def _error_message(raw: bytes) -> str:
    try:
        doc = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")[:200]
    err = doc.get("error") or (doc.get("response") or {}).get("error") or doc
    return str(err.get("message") or err)
