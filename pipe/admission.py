"""Admission control: at most `limit` requests run, at most `queue_size` wait, the rest are
turned away at once. Limits can be changed while requests run (raising admits waiters now,
lowering lets running requests finish and admits no one until the count is below the limit).
A waiter that is cancelled leaves the queue; a runner that is cancelled frees its slot.

A slot is a `SlotLease`: the upstream calls of a request run in tasks the lease holds, and the
slot is freed only when the request is over AND every held task has ended, so an upstream call
still closing after its consumer went away keeps counting against the limit until it is closed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from .errors import ErrorKind, PipeError


class Admission(Protocol):
    """What a request needs from admission: a slot held while it runs (and while the upstream
    calls its lease holds are still closing)."""

    def slot(self) -> AbstractAsyncContextManager[SlotLease]: ...


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

    def slot(self) -> SlotLease:
        """`async with admission.slot() as lease:` waits for a slot (or is refused at once)."""
        return SlotLease(self)


class SlotLease:
    """One admitted request's slot, released once the request ended and its tasks are done.
    Its own async context manager (one object per request, not a generator and its frame):
    entering waits for the slot, leaving ends the request's claim on it."""

    def __init__(self, admission: AdmissionController) -> None:
        self._admission = admission
        self._tasks: set[asyncio.Future[Any]] = set()
        self._ended = False
        self._released = False
        self._on_release: list[Callable[[], Coroutine[Any, Any, None]]] | None = None
        self._closers: set[asyncio.Task[None]] | None = None

    async def __aenter__(self) -> SlotLease:
        await self._admission.acquire()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.end()

    @property
    def tasks(self) -> int:
        return len(self._tasks)

    def hold(self, task: asyncio.Future[Any]) -> None:
        """Keep the slot until `task` is done (an upstream call the request started)."""
        if task.done():
            return
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self.drop(task)

    def drop(self, task: asyncio.Future[Any]) -> None:
        """`task` closed its upstream call (it may say so before it is quite done)."""
        self._tasks.discard(task)
        self._maybe_release()

    def end(self) -> None:
        self._ended = True
        self._maybe_release()

    def on_release(self, callback: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Also run `callback` when the slot is freed (e.g. give back a fleet-wide lease)."""
        if self._on_release is None:
            self._on_release = []
        self._on_release.append(callback)

    def _maybe_release(self) -> None:
        if self._ended and not self._tasks and not self._released:
            self._released = True
            self._admission.release()
            for callback in self._on_release or ():
                if self._closers is None:
                    self._closers = set()
                task = asyncio.get_running_loop().create_task(callback())
                self._closers.add(task)
                task.add_done_callback(self._closers.discard)
