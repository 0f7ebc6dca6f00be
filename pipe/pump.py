"""Run one upstream stream in a background task and wake the consumer only when output is due.

The task reads the HTTP stream, decodes and accumulates each batch, and feeds the coalescer.
The consumer (the generator Open WebUI iterates) sleeps until a flush is due: the first delta,
the end of the coalescing window (a timer, so nothing waits longer than the window when the
upstream pauses), the size cap, the end of the stream or an error. One task step per network
read, and one consumer wake-up per flushed chunk, however many reads it merges.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .coalesce import DeltaCoalescer
from .stream import ResponseAccumulator
from .wire import StreamEvent


class StreamPump:
    def __init__(
        self,
        batches: AsyncIterator[list[StreamEvent]],
        acc: ResponseAccumulator,
        coalescer: DeltaCoalescer,
        emit: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        self._batches = batches
        self._acc = acc
        self._coalescer = coalescer
        self._emit = emit
        self.error: BaseException | None = None
        self.finished = False
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run())

    async def _run(self) -> None:
        coalescer = self._coalescer
        try:
            async for batch in self._batches:
                segments, events = self._acc.feed(batch)
                for event in events:
                    await self._emit(event)
                for kind, text in segments:
                    coalescer.add(kind, text)
                if self._acc.failure is not None:
                    raise self._acc.failure
                if coalescer.due():
                    self._wake()
                elif coalescer.has_data:
                    self._arm(coalescer.deadline)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, raised there
            self.error = exc
        finally:
            self.finished = True
            self._arm(None)
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _arm(self, when: float | None) -> None:
        """One timer per coalescing deadline (the deadline only moves when output is taken)."""
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            self._timer = self._loop.call_later(max(0.0, when - time.monotonic()), self._wake)

    async def wait(self) -> None:
        """Sleep until output may be due (a spurious wake-up is harmless: check `due()`)."""
        if self.finished or self._coalescer.due():
            return
        waiter = self._loop.create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None

    async def aclose(self) -> None:
        """Stop reading and close the upstream iterator (closes the HTTP response)."""
        self._arm(None)
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        aclose = getattr(self._batches, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
