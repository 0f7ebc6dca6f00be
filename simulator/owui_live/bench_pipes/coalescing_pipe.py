"""
title: Coalescing Benchmark Pipe
author: orsim
version: 0.1.0
description: A stand-in candidate for orsim bench openwebui. One shared client; deltas that arrive together leave as one chunk.
"""

import asyncio
import json

import httpx
from pydantic import BaseModel


class Pipe:
    class Valves(BaseModel):
        BASE_URL: str = "https://openrouter.ai/api/v1"
        API_KEY: str = ""
        MODEL: str = "openai/gpt-4o-mini"
        MAX_WAIT_MS: int = 20

    def __init__(self):
        self.valves = self.Valves()
        self._client = None

    def _http(self):
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(timeout=60)
        return self._client

    async def pipe(self, body: dict):
        request = {
            "model": self.valves.MODEL,
            "input": [{"type": "message", "role": "user", "content": "bench"}],
            "stream": True,
        }
        headers = {"Authorization": f"Bearer {self.valves.API_KEY}"}
        url = self.valves.BASE_URL.rstrip("/") + "/responses"
        loop = asyncio.get_running_loop()
        pending: list[str] = []
        flushed_at = loop.time()
        first = True
        async with self._http().stream("POST", url, json=request, headers=headers) as resp:
            resp.raise_for_status()
            # aiter_text hands over whatever bytes arrived together: many events per read in burst.
            buffer = ""
            async for text in resp.aiter_text():
                buffer += text
                *events, buffer = buffer.split("\n\n")
                for event in events:
                    for line in event.splitlines():
                        if line.startswith("data:") and '"response.output_text.delta"' in line:
                            pending.append(json.loads(line[5:])["delta"])
                now = loop.time()
                # The first delta leaves at once (time to first byte); later ones are batched.
                if pending and (first or now - flushed_at >= self.valves.MAX_WAIT_MS / 1000):
                    yield "".join(pending)
                    pending.clear()
                    flushed_at = now
                    first = False
        if pending:
            yield "".join(pending)
