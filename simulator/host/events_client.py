"""Read a fake host's `GET /api/host/events` stream (the HTTP stand-in for Open WebUI's
socket.io `events`), in a background task, while the test sends chats."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx


class HostEvents:
    """`async with HostEvents(base_url, token) as events:` ... `events.messages`."""

    def __init__(self, base_url: str, token: str) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=None
        )
        self.messages: list[dict[str, Any]] = []
        self._ready = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async with self._client.stream("GET", "/api/host/events") as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    self._ready.set()
                elif line.startswith("data: "):
                    self.messages.append(json.loads(line[6:]))
                    self._changed.set()

    async def __aenter__(self) -> HostEvents:
        self._task = asyncio.create_task(self._read())
        waiter = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait(
            {waiter, self._task}, timeout=10, return_when="FIRST_COMPLETED"
        )
        if self._task in done:
            self._task.result()  # raises the HTTP error
        if waiter not in done:
            waiter.cancel()
            raise TimeoutError("the events stream did not start")
        return self

    async def wait_for(self, count: int, within: float = 10.0) -> list[dict[str, Any]]:
        """At least `count` messages (or what arrived within `within` seconds)."""
        deadline = asyncio.get_running_loop().time() + within
        while len(self.messages) < count:
            self._changed.clear()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return list(self.messages)

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        await self._client.aclose()
