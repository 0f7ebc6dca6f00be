"""Admission: bounded queue + live concurrency limit; busy answers at once; cancellation
frees the slot and closes the upstream call."""

from __future__ import annotations

import asyncio

import pytest

from pipe.admission import AdmissionController
from pipe.errors import ErrorKind, PipeError
from pipe.runtime import get_runtime
from tests.pipe.helpers import (
    GatedUpstream,
    chat_body,
    consume,
    eventually,
    gated_pipe,
    metadata,
    sse_frame,
    text_events,
    user,
)


async def test_queue_full_is_refused_at_once():
    adm = AdmissionController(limit=1, queue_size=1)
    await adm.acquire()
    waiter = asyncio.create_task(adm.acquire())
    await asyncio.sleep(0)
    assert adm.waiting == 1
    with pytest.raises(PipeError) as info:
        # A bound that let one more in would queue this call: fail in a second, not at the
        # 60 s pytest timeout.
        await asyncio.wait_for(adm.acquire(), 1.0)
    assert info.value.kind is ErrorKind.BUSY
    adm.release()
    await waiter
    assert adm.running == 1 and adm.waiting == 0
    adm.release()
    assert adm.running == 0


async def test_a_waiter_cancelled_just_as_it_is_granted_gives_the_slot_back():
    """The slot is handed to the waiter (its future resolved) and the waiter's task is
    cancelled in the same tick, before it resumes: it must release the slot it now owns."""
    adm = AdmissionController(limit=1, queue_size=1)
    await adm.acquire()
    waiter = asyncio.create_task(adm.acquire())
    await asyncio.sleep(0)
    assert adm.waiting == 1
    adm.release()  # grants the waiter's future: the slot is now the waiter's
    assert adm.running == 1
    waiter.cancel()  # ... but the waiter never resumes to use it
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert adm.running == 0 and adm.waiting == 0
    await asyncio.wait_for(adm.acquire(), 1.0)  # the slot is not lost for good
    assert adm.running == 1


async def test_cancelled_waiter_leaves_the_queue():
    adm = AdmissionController(limit=1, queue_size=5)
    await adm.acquire()
    waiter = asyncio.create_task(adm.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert adm.waiting == 0
    adm.release()
    assert adm.running == 0


async def test_raising_the_limit_admits_waiters_now_and_lowering_applies_to_new_ones():
    adm = AdmissionController(limit=1, queue_size=5)
    await adm.acquire()
    waiters = [asyncio.create_task(adm.acquire()) for _ in range(2)]
    await asyncio.sleep(0)
    assert adm.waiting == 2
    adm.configure(limit=3, queue_size=5)
    await asyncio.gather(*waiters)
    assert adm.running == 3
    adm.configure(limit=1, queue_size=5)
    late = asyncio.create_task(adm.acquire())
    await asyncio.sleep(0)
    assert not late.done()
    adm.release()
    adm.release()
    await asyncio.sleep(0)
    assert not late.done()  # still 1 running, limit 1
    adm.release()
    await late
    assert adm.running == 1


def slow_stream() -> tuple[GatedUpstream, asyncio.Event]:
    gate = asyncio.Event()
    events = text_events(["first", " second"])
    frames = [sse_frame(e) for e in events]
    return GatedUpstream(
        [frames[0], frames[1], gate, frames[2], frames[3], b"data: [DONE]\n\n"]
    ), gate


async def test_full_queue_answers_busy_through_the_pipe():
    upstream, gate = slow_stream()
    p = gated_pipe(upstream, MAX_CONCURRENT_REQUESTS=1, REQUEST_QUEUE_SIZE=0, STREAM_COALESCE_MS=0)
    first = await p.pipe(body=chat_body("a"), __user__=user(), __metadata__=metadata())
    chunk = await first.__anext__()
    assert chunk["choices"][0]["delta"]["content"] == "first"
    second = await consume(
        await p.pipe(body=chat_body("b"), __user__=user(), __metadata__=metadata())
    )
    assert "Server busy" in second.text and "Error ID" in second.text
    gate.set()
    rest = [c async for c in first]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in rest) == " second"
    assert get_runtime(p._transport).admission.running == 0


async def test_client_gone_cancels_upstream_and_frees_the_slot():
    upstream, gate = slow_stream()  # not opened until the end: the stream would wait forever
    p = gated_pipe(upstream, MAX_CONCURRENT_REQUESTS=1, REQUEST_QUEUE_SIZE=0, STREAM_COALESCE_MS=0)
    gen = await p.pipe(body=chat_body("a"), __user__=user(), __metadata__=metadata())

    async def consumer() -> None:
        async for _ in gen:
            pass

    task = asyncio.create_task(consumer())
    await asyncio.wait_for(upstream.started.wait(), 5)
    admission = get_runtime(p._transport).admission
    await eventually(lambda: admission.running == 1)
    task.cancel()  # what Open WebUI does when the browser goes away
    with pytest.raises(asyncio.CancelledError):
        await task
    await gen.aclose()
    # the reader task closes the upstream body itself; the slot counts until it has
    await eventually(lambda: upstream.closed == 1 and admission.running == 0)
    # the freed slot serves the next request (queue size 0: it would be refused if taken)
    gate.set()
    out = await consume(await p.pipe(body=chat_body("b"), __user__=user(), __metadata__=metadata()))
    assert out.text == "first second"
    assert upstream.requests == 2


async def test_limits_follow_valves_live():
    upstream, gate = slow_stream()
    p = gated_pipe(upstream, MAX_CONCURRENT_REQUESTS=1, REQUEST_QUEUE_SIZE=5, STREAM_COALESCE_MS=0)
    first = await p.pipe(body=chat_body("a"), __user__=user(), __metadata__=metadata())
    await first.__anext__()
    second = await p.pipe(body=chat_body("b"), __user__=user(), __metadata__=metadata())
    second_task = asyncio.create_task(second.__anext__())
    admission = get_runtime(p._transport).admission
    await eventually(lambda: admission.waiting == 1)
    p.valves = p.valves.model_copy(update={"MAX_CONCURRENT_REQUESTS": 2})
    third = await p.pipe(
        body=chat_body("c"), __user__=user(), __metadata__=metadata()
    )  # applies the new limit
    chunk = await asyncio.wait_for(second_task, 5)
    assert chunk["choices"][0]["delta"]["content"] == "first"
    gate.set()
    for gen in (first, second, third):
        [c async for c in gen]
    assert admission.running == 0
