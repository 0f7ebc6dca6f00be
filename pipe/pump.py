"""Run one upstream stream in a background task and wake the consumer only when output is due.

The task reads the HTTP stream, decodes and accumulates each batch, and feeds the coalescer.
The consumer (the generator Open WebUI iterates) sleeps until the task wakes it: the first
delta, the end of the coalescing window, the size cap, the end of the stream or an error. After
the first output the task reads once per window: it sleeps until the window ends (counted from
the consumer's last take) and then takes everything the socket received meanwhile in one read
(streamio.py), so one wake-up, one read and one parse loop serve all the events of a window,
and wakes the consumer with it. The task is the only clock: a second timer on the consumer's
side would, on a busy event loop, fire in the same turn as the task's and flush just before
the task's read, leaving that window's data for the next one (two windows of delay).

When the task is about to wait on the network while text is held (nothing was buffered at the
window's end: the upstream has gone quiet), it arms a short backstop timer from that moment, so
an upstream pause holds nothing back; events, errors included, reach the consumer at most one
window (plus that grace) after they arrive, in order.

The task owns the upstream response: it closes it itself, in its own task, however it ends.
The consumer only ever cancels it once (`close`, synchronous): it never awaits the task while
being cancelled, because a host's cancel scope (Starlette under uvicorn re-cancels the
consumer on every await once the client is gone) would otherwise re-cancel the task through
that await and interrupt the closing of the connection, leaving the upstream answer running.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .admission import SlotLease
from .coalesce import DeltaCoalescer
from .stream import ResponseAccumulator
from .stream_events import AnyEvent

# How long a read that starts with text held may wait for the network before the consumer is
# woken to show that text (at most a quarter window). A buffered read returns within two turns
# of the event loop, so the backstop only fires when the upstream has gone quiet.
FLUSH_GRACE_SECONDS = 0.005


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
        # The timers' callbacks need no context variables: one empty context for all of this
        # stream's timers, not a copy of the current one per timer.
        self._timer_context = contextvars.Context()
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
                for event in events:  # a slow emitter still leaves held text to the backstop
                    await self._emit(event)
                self._arm(None)  # the read returned: this pass decides about held text
                for kind, text in segments:
                    add(kind, text)
                if acc.failure is not None:
                    raise acc.failure
                # Only a waiting consumer needs waking (a busy one checks `due()` itself when
                # it comes back). Reads come once per window, so one clock read per read.
                if self._waiter is not None and coalescer.size:
                    if coalescer.size >= max_chars or coalescer.due():
                        if self._wake() and window > 0:
                            # Let the consumer take it first: the next window starts there.
                            await asyncio.sleep(0)
                if window > 0:
                    await self._sleep_to_window_end(coalescer, window)
                    # The next read may wait for the network: held text must not wait with it.
                    if coalescer.size:
                        self._arm(max(coalescer.deadline, time.monotonic()))
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

    async def _sleep_to_window_end(self, coalescer: DeltaCoalescer, window: float) -> None:
        """Read at the cadence we write: what arrives during a window is only shown at its end,
        so let it pile up in the socket buffer and take it in one read then (one wake-up and
        one read per window, not per upstream event). Before the first output, and whenever
        the window has passed, read at once."""
        if self._waiter is None and coalescer.due():
            # The consumer is busy and takes what is due when it comes back: that take starts
            # the next window.
            await self._sleep(window)
            return
        for _ in range(2):  # a loop with millisecond timers (uvloop) may wake a bit early
            pause = coalescer.deadline - time.monotonic()
            if pause <= 0:
                break
            await self._sleep(pause)

    def _sleep(self, seconds: float) -> asyncio.Future[None]:
        """`asyncio.sleep` without its coroutine and context copy: this runs once per window
        per stream, and on a busy host every object alive across a window is one more for
        the young-generation collections to promote (and the full ones to scan)."""
        future = self._loop.create_future()
        self._loop.call_later(seconds, _resolve, future, context=self._timer_context)
        return future

    def take_error(self) -> BaseException:
        """The reader's error, handed over once: the pump no longer holds it, so the frames
        of its traceback (which hold the pump) do not make a reference cycle."""
        error, self.error = self.error, None
        assert error is not None
        return error

    def _wake(self) -> bool:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
            return True
        return False

    def _on_backstop(self) -> None:
        self._timer, self._timer_at = None, None
        self._wake()

    def _arm(self, when: float | None) -> None:
        """The backstop: wake the consumer a grace after `when` unless a read returns first."""
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            grace = min(FLUSH_GRACE_SECONDS, self._coalescer.window / 4)
            delay = max(0.0, when + grace - time.monotonic())
            self._timer = self._loop.call_later(
                delay, self._on_backstop, context=self._timer_context
            )

    def wait(self) -> asyncio.Future[None] | None:
        """What to await until output may be due (a spurious wake-up is harmless: check
        `due()`), or None when it may be due now. A future, not a coroutine: one object
        fewer per window; the reader clears it when it wakes the consumer."""
        if self.finished or self._coalescer.due():
            return None
        waiter = self._loop.create_future()
        self._waiter = waiter
        return waiter

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
