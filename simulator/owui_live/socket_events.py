"""Capture what Open WebUI pushes over socket.io: every `events` message for the user.

Open WebUI sends emitter events (status, citation, ...) and, for UI-style chats, the whole
streamed answer to the room `user:<id>` as `events` messages `{chat_id, message_id, data}`.
They never appear in the HTTP body, so this client is the only way to see them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import socketio


class EventCapture:
    """An async context manager: a connected socket.io client recording every event."""

    def __init__(self, base_url: str, token: str) -> None:
        self._base_url = base_url
        self._token = token
        self._client = socketio.AsyncClient(reconnection=False)
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._client.on("events", self._record)

    async def _record(self, payload: dict[str, Any]) -> None:
        self.events.append(payload)
        self._changed.set()

    @property
    def sid(self) -> str:
        return self._client.get_sid("/")

    async def __aenter__(self) -> EventCapture:
        await self._client.connect(
            self._base_url,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            auth={"token": self._token},
            wait_timeout=10,
        )
        # user-join confirms the room membership before we send a chat.
        await self._client.call("user-join", {"auth": {"token": self._token}}, timeout=10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.disconnect()

    async def barrier(self) -> None:
        """A round trip on this socket: every event the server emitted before it has arrived
        (one connection delivers in order), e.g. the emitter events of a finished API chat."""
        await self._client.call("user-join", {"auth": {"token": self._token}}, timeout=10)

    def for_chat(self, chat_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("chat_id") == chat_id]

    def clear(self) -> None:
        self.events.clear()

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], time_limit: float
    ) -> dict:
        """Wait until a recorded event matches; TimeoutError names what was seen."""
        deadline = asyncio.get_running_loop().time() + time_limit
        seen = 0
        while True:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                kinds = [(e.get("data") or {}).get("type") for e in self.events]
                raise TimeoutError(f"no matching socket event in {time_limit} s; saw types {kinds}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass
