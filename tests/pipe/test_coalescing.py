"""Delta coalescing: the first token at once, bursts merged, nothing held back on a pause."""

from __future__ import annotations

import asyncio
import time

from pipe.coalesce import REASONING, TEXT, DeltaCoalescer
from pipe.pump import StreamPump
from pipe.stream import ResponseAccumulator
from pipe.stream_events import TextDeltaEvent
from tests.pipe.helpers import (
    GatedUpstream,
    chat_body,
    gated_pipe,
    make_pipe,
    metadata,
    run_pipe,
    sse_frame,
    text_events,
    user,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_first_delta_is_due_at_once_then_window_applies():
    clock = FakeClock()
    c = DeltaCoalescer(window=0.05, max_chars=100, clock=clock)
    c.add(TEXT, "Hel")
    assert c.due()
    assert c.take() == [[TEXT, "Hel"]]
    c.add(TEXT, "lo")
    c.add(TEXT, " world")
    assert not c.due()
    clock.now += 0.05
    assert c.due()
    assert c.take() == [[TEXT, "lo world"]]


def test_size_cap_and_kind_order_are_kept():
    clock = FakeClock()
    c = DeltaCoalescer(window=10, max_chars=8, clock=clock)
    c.add(REASONING, "a")
    c.take()
    c.add(REASONING, "think")
    c.add(TEXT, "ans")
    c.add(TEXT, "wer")
    assert c.due()  # 11 chars >= cap
    assert c.take() == [[REASONING, "think"], [TEXT, "answer"]]
    c.add(TEXT, "")
    assert not c.has_data


def test_alternating_kinds_keep_their_runs_and_order():
    clock = FakeClock()
    c = DeltaCoalescer(window=10, max_chars=10_000, clock=clock)
    c.take()  # past the first flush: everything below is held in one window
    for piece in ("a", "b"):
        c.add(REASONING, piece)
    c.add(TEXT, "x")
    c.add(TEXT, "y")
    c.add(REASONING, "c")
    c.add(TEXT, "z")
    assert not c.due()
    assert c.take() == [[REASONING, "ab"], [TEXT, "xy"], [REASONING, "c"], [TEXT, "z"]]
    assert c.take() == [] and not c.has_data
    c.add(TEXT, "after")
    assert c.take() == [[TEXT, "after"]]


async def test_burst_of_deltas_is_merged_into_few_chunks(openrouter_sim):
    words = [f"w{i} " for i in range(300)]
    openrouter_sim.enqueue({"script": {"text": "".join(words), "seed": 3}})
    out = await run_pipe(make_pipe(openrouter_sim, STREAM_COALESCE_MS=200), chat_body("burst"))
    assert out.text == "".join(words)
    assert len(out.text_chunks) < 60  # 300 deltas arrived; far fewer chunks went to Open WebUI


async def test_zero_window_forwards_every_batch(openrouter_sim):
    openrouter_sim.enqueue({"script": {"text": "a b c d", "seed": 4}})
    out = await run_pipe(make_pipe(openrouter_sim, STREAM_COALESCE_MS=0), chat_body("x"))
    assert out.text == "a b c d"


async def test_nothing_is_held_back_while_the_upstream_pauses():
    """The upstream sends text, then stops until the test has seen that text come out of the
    pipe. If the pipe held the text back waiting for more, this would never finish."""
    events = text_events(["Hello", " there", " friend"])
    gate = asyncio.Event()
    frames = [sse_frame(e) for e in events]
    # first delta, second delta (inside the window), then a pause, then the rest
    upstream = GatedUpstream(
        [frames[0], frames[1], frames[2], gate, frames[3], frames[4], b"data: [DONE]\n\n"]
    )
    p = gated_pipe(upstream, STREAM_COALESCE_MS=1000)
    gen = await p.pipe(body=chat_body("x"), __user__=user(), __metadata__=metadata())
    seen = ""

    async def read_until_pause() -> None:
        nonlocal seen
        async for chunk in gen:
            seen += chunk["choices"][0]["delta"].get("content", "")
            if seen == "Hello there":
                return

    await asyncio.wait_for(read_until_pause(), timeout=10)
    gate.set()
    rest = [c async for c in gen]
    seen += "".join(c["choices"][0]["delta"].get("content", "") for c in rest)
    assert seen == "Hello there friend"


def _delta(text: str) -> TextDeltaEvent:
    return TextDeltaEvent("response.output_text.delta", text, "m")


async def _received(queue: asyncio.Queue, loop_turns: int = 0):
    """Batches as the upstream reads them: one read takes everything already received
    (None ends the stream). `loop_turns`: each read first waits that many event-loop turns,
    as a held socket's data reaches the reader two turns after it resumes reading."""
    while True:
        for _ in range(loop_turns):
            await asyncio.sleep(0)
        if (batch := await queue.get()) is None:
            return
        while not queue.empty() and queue._queue[0] is not None:  # type: ignore[attr-defined]
            batch = batch + queue.get_nowait()
        yield batch


async def _woken(pump: StreamPump) -> None:
    """The consumer's side: sleep until the reader says output may be due."""
    waiter = pump.wait()
    if waiter is not None:
        await waiter


async def _settle() -> None:
    for _ in range(20):  # let the pump task take what was queued
        await asyncio.sleep(0)


async def test_pump_reads_nothing_inside_a_window_then_everything_at_its_end():
    window = 0.3
    coalescer = DeltaCoalescer(window=window, max_chars=10)
    queue: asyncio.Queue = asyncio.Queue()
    emitted: list[dict] = []

    batches = _received(queue)

    async def emit(event: dict) -> None:
        emitted.append(event)

    pump = StreamPump(batches, ResponseAccumulator(), coalescer, emit)
    try:
        waiting = asyncio.create_task(_woken(pump))
        queue.put_nowait([_delta("first")])
        await asyncio.wait_for(waiting, 10)  # the first delta goes out at once
        assert coalescer.take() == [[TEXT, "first"]]
        flushed = time.monotonic()

        waiting = asyncio.create_task(_woken(pump))
        for text in ("1234", "56789", "0abc"):  # more than the size cap, inside the window
            queue.put_nowait([_delta(text)])
        await _settle()
        assert queue.qsize() == 3  # the reader sleeps through the window: nothing read yet
        assert not waiting.done()
        await asyncio.wait_for(waiting, 10)  # one read at the window's end takes all three
        assert time.monotonic() - flushed >= window * 0.9
        assert queue.qsize() == 0
        assert coalescer.take() == [[TEXT, "1234567890abc"]]

        queue.put_nowait(None)
        await asyncio.wait_for(_woken(pump), 10)  # the end wakes it too
        assert pump.finished and pump.error is None and emitted == []
    finally:
        await pump.aclose()


async def test_pump_after_a_pause_shows_new_text_at_once():
    coalescer = DeltaCoalescer(window=0.05, max_chars=1000)
    queue: asyncio.Queue = asyncio.Queue()

    async def batches():
        while (batch := await queue.get()) is not None:
            yield batch

    async def emit(event: dict) -> None:
        pass

    pump = StreamPump(batches(), ResponseAccumulator(), coalescer, emit)
    try:
        queue.put_nowait([_delta("a")])
        await asyncio.wait_for(_woken(pump), 10)
        assert coalescer.take() == [[TEXT, "a"]]
        await asyncio.sleep(0.2)  # the upstream pauses for longer than the window
        waiting = asyncio.create_task(_woken(pump))
        await _settle()
        arrived = time.monotonic()
        queue.put_nowait([_delta("b")])
        await asyncio.wait_for(waiting, 10)
        assert time.monotonic() - arrived < 0.04  # not held for another window
        assert coalescer.take() == [[TEXT, "b"]]
    finally:
        await pump.aclose()


async def test_pump_timer_ends_the_window_while_the_upstream_is_silent():
    coalescer = DeltaCoalescer(window=0.01, max_chars=1000)
    queue: asyncio.Queue = asyncio.Queue()

    batches = _received(queue)

    async def emit(event: dict) -> None:
        pass

    pump = StreamPump(batches, ResponseAccumulator(), coalescer, emit)
    try:
        queue.put_nowait([_delta("a")])
        await asyncio.wait_for(_woken(pump), 10)
        assert coalescer.take() == [[TEXT, "a"]]
        queue.put_nowait([_delta("b")])
        queue.put_nowait([_delta("c")])
        for _ in range(3):  # the upstream then says nothing: only the timer can wake us
            await asyncio.wait_for(_woken(pump), 10)
            if coalescer.due():
                break
        assert coalescer.take() == [[TEXT, "bc"]]
        assert not pump.finished
    finally:
        await pump.aclose()


async def test_pump_shows_every_token_within_one_window_while_the_event_loop_stalls():
    """A busy host: the event loop is blocked for 15 ms every 37 ms while text streams in
    every 20 ms. Each window's text must come out at that window's end, never a window later
    (a flush racing the reader's read at the window's end would leave that read's text
    behind for a whole extra window)."""
    window = 0.1
    coalescer = DeltaCoalescer(window=window, max_chars=100_000)
    queue: asyncio.Queue = asyncio.Queue()
    loop = asyncio.get_running_loop()
    sent: dict[str, float] = {}
    shown: dict[str, float] = {}
    stalling = True

    def stall() -> None:
        if stalling:
            time.sleep(0.015)
            loop.call_later(0.022, stall)

    async def feed() -> None:
        for n in range(80):
            token = f"t{n};"
            sent[token] = time.monotonic()
            queue.put_nowait([_delta(token)])
            await asyncio.sleep(0.02)
        queue.put_nowait(None)

    def show() -> None:
        now = time.monotonic()
        for _, text in coalescer.take():
            for token in text.split(";")[:-1]:
                shown[token + ";"] = now

    async def emit(event: dict) -> None:
        pass

    pump = StreamPump(_received(queue, loop_turns=2), ResponseAccumulator(), coalescer, emit)
    feeder = asyncio.create_task(feed())
    loop.call_soon(stall)
    try:
        while not pump.finished or coalescer.has_data:  # the consumer's loop (orchestrator)
            if coalescer.due() or (pump.finished and coalescer.has_data):
                show()
                continue
            await asyncio.wait_for(_woken(pump), 10)
    finally:
        stalling = False
        await pump.aclose()
        await feeder
    assert set(shown) == set(sent)
    worst = max(shown[token] - sent[token] for token in sent)
    assert worst < 1.6 * window, f"a token waited {worst * 1000:.0f} ms (window 100 ms)"
