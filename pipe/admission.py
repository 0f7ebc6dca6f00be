"""Admission control: at most `limit` requests run, at most `queue_size` wait, the rest are
turned away at once. Limits can be changed while requests run (raising admits waiters now,
lowering lets running requests finish and admits no one until the count is below the limit).
A waiter that is cancelled leaves the queue; a runner that is cancelled frees its slot.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from .errors import ErrorKind, PipeError


class Admission(Protocol):
    """What a request needs from admission: a slot held while it runs."""

    def slot(self) -> AbstractAsyncContextManager[None]: ...


class AdmissionController:
    def __init__(self, limit: int, queue_size: int) -> None:
        self._limit = max(1, limit)
        self._queue_size = max(0, queue_size)
        self._running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def configure(self, limit: int, queue_size: int) -> None:
        """Apply new limits live (called with the current valves on every request)."""
        self._limit = max(1, limit)
        self._queue_size = max(0, queue_size)
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._running < self._limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._running += 1
                waiter.set_result(None)

    async def acquire(self) -> None:
        if self._running < self._limit and not self._waiters:
            self._running += 1
            return
        if len(self._waiters) >= self._queue_size:
            raise PipeError(
                ErrorKind.BUSY,
                f"{self._running} requests are running and {len(self._waiters)} are waiting.",
                retryable=False,
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was granted just as we were cancelled
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            raise

    def release(self) -> None:
        self._running -= 1
        self._wake()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()
