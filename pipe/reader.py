"""Read an async iterator in a background task so its consumer can wait with a deadline.

The stream consumer must flush coalesced deltas when the upstream goes quiet, without ever
cancelling a read in progress (that would break the HTTP stream). One long-lived task per
stream costs one future per read, far less than a task plus `asyncio.wait` per read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
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
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
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

    def set_deadline(self, when: float | None) -> None:
        """Make `next` return `TIMEOUT` at monotonic time `when` (None: no deadline). One timer
        per deadline, not one per read: the deadline only moves when the consumer flushes."""
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            self._timer = self._loop.call_later(max(0.0, when - time.monotonic()), self._wake)

    async def next(self) -> Any:
        """The next item, `TIMEOUT` once the deadline passed without one, or `END`."""
        if not self._items and not self._finished:
            if self._timer_at is not None and time.monotonic() >= self._timer_at:
                return TIMEOUT
            waiter = self._loop.create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
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
        self.set_deadline(None)
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
