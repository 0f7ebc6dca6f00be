"""Run one upstream stream in a background task and wake the consumer only when output is due.

The task reads the HTTP stream, decodes and accumulates each batch, and feeds the coalescer.
The consumer (the generator Open WebUI iterates) sleeps until a flush is due: the first delta,
the end of the coalescing window (a timer, so nothing waits longer than the window when the
upstream pauses), the size cap, the end of the stream or an error. After the first output the
task itself reads once per window: it sleeps until the window ends and then takes everything
the socket received meanwhile in one read (streamio.py), so one wake-up, one read and one parse
loop serve all the events of a window, and wakes the consumer with it. When nothing is buffered
the read waits for the next byte and the consumer's own timer (a few milliseconds after the
deadline) flushes what is held, so an upstream pause holds nothing back; events, errors
included, reach the consumer at most one window (plus that grace) after they arrive, in order.

The task owns the upstream response: it closes it itself, in its own task, however it ends.
The consumer only ever cancels it once (`close`, synchronous): it never awaits the task while
being cancelled, because a host's cancel scope (Starlette under uvicorn re-cancels the
consumer on every await once the client is gone) would otherwise re-cancel the task through
that await and interrupt the closing of the connection, leaving the upstream answer running.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .admission import SlotLease
from .coalesce import DeltaCoalescer
from .stream import ResponseAccumulator
from .stream_events import AnyEvent

# The consumer's own wake-up comes this long after a window's deadline (at most a quarter
# window): at the deadline the reader takes what the socket holds and wakes the consumer itself
# with it; were both due at once, a flush run just before that read would leave its data for
# the next window (up to two windows of delay). The grace only delays held text when the
# upstream has gone quiet.
FLUSH_GRACE_SECONDS = 0.005


class StreamPump:
    def __init__(
        self,
        batches: AsyncIterator[list[AnyEvent]],
        acc: ResponseAccumulator,
        coalescer: DeltaCoalescer,
        emit: Callable[[dict[str, Any]], Awaitable[None]],
        lease: SlotLease | None = None,
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
        self._closing = False
        self._lease = lease
        self._task = self._loop.create_task(self._run())
        if lease is not None:
            lease.hold(self._task)  # the request's slot stays taken until the upstream is closed

    async def _run(self) -> None:
        coalescer = self._coalescer
        acc = self._acc
        add = coalescer.add
        max_chars = coalescer.max_chars
        window = coalescer.window
        try:
            async for batch in self._batches:
                segments, events = acc.feed(batch)
                for event in events:
                    await self._emit(event)
                for kind, text in segments:
                    add(kind, text)
                if acc.failure is not None:
                    raise acc.failure
                # Only a waiting consumer needs waking (a busy one checks `due()` itself when
                # it comes back). The window's end is a timer armed once per window, so while
                # it runs the only per-read check is the size cap: no clock read per event.
                woke = False
                if self._waiter is not None and coalescer.size:
                    if coalescer.size >= max_chars:
                        woke = self._wake()
                    elif coalescer.deadline != self._timer_at:
                        if coalescer.due():  # e.g. the first delta: out at once
                            woke = self._wake()
                        else:
                            self._arm(coalescer.deadline)
                # Read at the cadence we write: what arrives during a window is only shown at
                # its end, so let it pile up in the socket buffer and take it in one read then
                # (one wake-up and one read per window, not per upstream event). Before the
                # first output, and whenever the window has passed, read at once.
                # Output due now (taken by the consumer now or when it comes back) starts a
                # new window.
                pause = window if woke or coalescer.due() else coalescer.deadline - time.monotonic()
                if pause > 0 and window > 0:
                    await asyncio.sleep(pause)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, raised there
            self.error = exc
        finally:
            # Also when cancelled while the reader sat at a `yield` (e.g. emitting an event):
            # the generator's own cleanup closes the HTTP response.
            aclose = getattr(self._batches, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            if self._lease is not None:
                self._lease.drop(self._task)
            self.finished = True
            self._arm(None)
            self._wake()

    def _wake(self) -> bool:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
            return True
        return False

    def _on_deadline(self) -> None:
        self._timer, self._timer_at = None, None  # spent: the next window arms a new one
        self._wake()

    def _arm(self, when: float | None) -> None:
        """One timer per coalescing deadline (the deadline only moves when output is taken)."""
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            grace = min(FLUSH_GRACE_SECONDS, self._coalescer.window / 4)
            delay = max(0.0, when + grace - time.monotonic())
            self._timer = self._loop.call_later(delay, self._on_deadline)

    async def wait(self) -> None:
        """Sleep until output may be due (a spurious wake-up is harmless: check `due()`)."""
        coalescer = self._coalescer
        if self.finished or coalescer.due():
            return
        if coalescer.size:  # held output: wake at the window's end at the latest
            self._arm(coalescer.deadline)
        waiter = self._loop.create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None

    @property
    def task(self) -> asyncio.Task[None]:
        return self._task

    def close(self) -> None:
        """Stop reading: the task is cancelled once and closes the upstream response itself."""
        self._arm(None)
        if not self._task.done() and not self._closing:
            self._closing = True
            self._task.cancel()

    async def aclose(self) -> None:
        """`close`, then wait until the upstream response is closed."""
        self.close()
        await asyncio.wait({self._task})
