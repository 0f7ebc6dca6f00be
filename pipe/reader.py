"""Read an async iterator in a background task so its consumer can wait with a deadline.

The stream consumer must flush coalesced deltas when the upstream goes quiet, without ever
cancelling a read in progress (that would break the HTTP stream). One long-lived task per
stream costs one future per read, far less than a task plus `asyncio.wait` per read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

TIMEOUT = object()  # returned by `next` when the deadline passed with nothing new
END = object()  # returned once the iterator is exhausted


class BackgroundReader:
    def __init__(self, iterator: AsyncIterator[Any]) -> None:
        self._iterator = iterator
        self._items: deque[Any] = deque()
        self._error: BaseException | None = None
        self._finished = False
        self._waiter: asyncio.Future[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for item in self._iterator:
                self._items.append(item)
                self._wake()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, raised there
            self._error = exc
        finally:
            self._finished = True
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self, wait: float | None = None) -> Any:
        """The next item, `TIMEOUT` after `wait` seconds without one, or `END`."""
        if not self._items and not self._finished:
            waiter = self._loop.create_future()
            self._waiter = waiter
            handle = self._loop.call_later(wait, self._wake) if wait is not None else None
            try:
                await waiter
            finally:
                self._waiter = None
                if handle is not None:
                    handle.cancel()
        if self._items:
            return self._items.popleft()
        if self._finished:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            return END
        return TIMEOUT

    async def aclose(self) -> None:
        """Stop reading and close the iterator (closes the HTTP response)."""
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
