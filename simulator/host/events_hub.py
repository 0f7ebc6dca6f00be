"""What the real host pushes over socket.io, readable over plain HTTP.

Open WebUI sends a pipe's emitter events (status, source/citation, message, ...) to the
user's socket.io room as `events` messages `{chat_id, message_id, data}`; they never appear in
the chat's HTTP body. The fake host publishes the same messages here, and
`GET /api/host/events` streams them to a client of that user as server-sent events, so
HTTP-level tests and load tests can check status lines and citations too.

Per worker process: with `--workers K`, a subscriber sees the chats its own worker served.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

READY = b": subscribed\n\n"  # sent first: events published from now on reach this client
QUEUE_LIMIT = 10_000  # a subscriber that stops reading loses the oldest events, not memory


class EventHub:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}

    def publish(self, user_id: str, message: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(user_id, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)

    def subscribers(self, user_id: str) -> int:
        return len(self._subscribers.get(user_id, ()))

    async def stream(self, user_id: str) -> AsyncIterator[bytes]:
        """SSE frames for one subscriber until the client goes away."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._subscribers.setdefault(user_id, set()).add(queue)
        try:
            yield READY
            while True:
                message = await queue.get()
                yield b"data: " + json.dumps(message, ensure_ascii=False).encode() + b"\n\n"
        finally:
            self._subscribers[user_id].discard(queue)
