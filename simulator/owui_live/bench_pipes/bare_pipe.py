"""
title: Bare Benchmark Pipe
author: orsim
version: 0.1.0
description: The baseline of orsim bench openwebui. A new httpx client per chat, one chunk per delta.
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
            "input": [{"type": "message", "role": "user", "content": "bench"}],
            "stream": True,
        }
        headers = {"Authorization": f"Bearer {self.valves.API_KEY}"}
        url = self.valves.BASE_URL.rstrip("/") + "/responses"
        async with httpx.AsyncClient(timeout=60) as client:
            async with client.stream("POST", url, json=request, headers=headers) as resp:
                resp.raise_for_status()
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    event = json.loads(data)
                    if event.get("type") == "response.output_text.delta":
                        yield event["delta"]
