"""The pipe owns its upstream's lifetime, and reuses its upstream connections.

Whatever happens to the consumer (closed, cancelled once, cancelled again and again the way
Starlette's cancel scope does when the client goes away, or dropped without `aclose()`), the
upstream answer is closed within a second, and the request's slot stays taken until it is.
Everything runs over real HTTP against the fake OpenRouter, which counts the answers it is
still sending (`open_answers`) and the TCP connections it accepted.
"""

from __future__ import annotations

import asyncio
import gc
import re
import time

import anyio
import pytest

from pipe.runtime import get_runtime
from simulator.openrouter.server import SimServer
from tests.disconnecting_client import (
    CLOSE_DEADLINE,
    upstream_closed,
)
from tests.pipe.helpers import chat_body, consume, eventually, make_pipe, metadata, user
from tests.pipe.tool_helpers import CITY, call, owui_tools, script

SLOW = {"script": {"text": " ".join(["word"] * 400)}, "tps": 20}  # ~20 s if read to the end


async def three_chunks(gen) -> None:
    for _ in range(3):
        await gen.__anext__()


@pytest.fixture
def slow_sim(openrouter_sim):
    for _ in range(8):
        openrouter_sim.enqueue(SLOW)
    return openrouter_sim


async def test_aclose_closes_the_upstream_and_only_then_frees_the_slot(slow_sim):
    p = make_pipe(slow_sim, STREAM_COALESCE_MS=0)
    gen = await p.pipe(body=chat_body(), __user__=user(), __metadata__=metadata())
    await three_chunks(gen)
    assert slow_sim.open_answers == 1
    await gen.aclose()
    await upstream_closed(slow_sim)
    assert get_runtime(None).admission.running == 0


async def test_a_cancel_scope_that_cancels_on_every_await_still_closes_the_upstream(slow_sim):
    """Starlette under uvicorn cancels the response task in an anyio cancel scope when the
    client disconnects: every await in the pipe's cleanup is cancelled again."""
    p = make_pipe(slow_sim, STREAM_COALESCE_MS=0, MAX_CONCURRENT_REQUESTS=1, REQUEST_QUEUE_SIZE=0)
    gen = await p.pipe(body=chat_body(), __user__=user(), __metadata__=metadata())
    admission = get_runtime(None).admission
    with anyio.CancelScope() as scope:
        seen = 0
        async for _ in gen:
            seen += 1
            if seen == 3:
                scope.cancel()
    assert scope.cancelled_caught
    await upstream_closed(slow_sim)
    assert admission.running == 0
    # the slot is free again: the next chat runs (queue size 0 would refuse it otherwise)
    slow_sim.reset()
    out = await consume(await p.pipe(body=chat_body(), __user__=user(), __metadata__=metadata()))
    assert out.text == "You said: Hello there"


async def test_a_consumer_dropped_without_aclose_closes_the_upstream(slow_sim):
    p = make_pipe(slow_sim, STREAM_COALESCE_MS=0)
    gen = await p.pipe(body=chat_body(), __user__=user(), __metadata__=metadata())
    await three_chunks(gen)
    del gen  # abandoned: nobody calls aclose(); the event loop finalises it
    gc.collect()
    await upstream_closed(slow_sim)
    await asyncio.sleep(0.05)
    assert get_runtime(None).admission.running == 0


async def test_a_cancelled_non_streaming_call_closes_its_connection():
    async with SimServer() as sim:  # its own: the fake keeps sleeping after the pipe left
        sim.enqueue({"script": {"text": "late"}, "fault": "latency;seconds=5"})
        p = make_pipe(sim)
        task = asyncio.create_task(
            p.pipe(body=chat_body(stream=False), __user__=user(), __metadata__=metadata())
        )
        await eventually(lambda: sim.open_answers == 1)
        with anyio.CancelScope() as scope:  # cancelled on every await, like the stream above
            scope.cancel()
            await task
        # the fake still sleeps before its answer, but the pipe's connection is gone
        start = time.monotonic()
        while sim.live_connections:
            assert time.monotonic() - start < CLOSE_DEADLINE, "the connection is still open"
            await asyncio.sleep(0.01)
        await eventually(lambda: get_runtime(None).admission.running == 0)


async def test_the_slot_is_held_until_the_upstream_is_closed(slow_sim):
    """A limit of 1 and no queue: while the abandoned answer is still being closed, a new chat
    is refused; once it is closed, the next one runs."""
    p = make_pipe(slow_sim, STREAM_COALESCE_MS=0, MAX_CONCURRENT_REQUESTS=1, REQUEST_QUEUE_SIZE=0)
    gen = await p.pipe(body=chat_body(), __user__=user(), __metadata__=metadata())
    await three_chunks(gen)
    admission = get_runtime(None).admission
    await gen.aclose()
    assert slow_sim.open_answers == 1 and admission.running == 1  # still closing: still counted
    refused = await consume(
        await p.pipe(body=chat_body(), __user__=user(), __metadata__=metadata())
    )
    assert "Server busy" in refused.text
    await upstream_closed(slow_sim)
    await eventually(lambda: admission.running == 0)


# ---------------------------------------------------------------- connection reuse


async def test_sequential_streamed_chats_reuse_their_upstream_connections(openrouter_sim):
    p = make_pipe(openrouter_sim)
    before = openrouter_sim.connections_opened
    for n in range(60):
        out = await consume(
            await p.pipe(body=chat_body(f"chat {n}"), __user__=user(), __metadata__=metadata())
        )
        assert out.finish_reason == "stop"
    # one for the catalog (httpx) and one for the streams (aiohttp), each reused
    assert openrouter_sim.connections_opened - before <= 2


def test_bench_connections_reports_a_handful_of_upstream_connections_for_many_chats(capsys):
    from simulator.bench.connections import cli_main

    assert cli_main(30, 5, None) == 0
    opened = re.search(r"upstream TCP connections opened: (\d+) ", capsys.readouterr().out)
    assert opened and int(opened.group(1)) <= 2


async def _weather(city: str) -> str:
    return f"sunny in {city}"


CYCLE_CASES = {
    "answer": ([], "You said: Hello there"),
    "upstream 500": ([{"status": 500}], "### ⚠️"),
    "cut stream": ([{"script": {"text": "x"}, "fault": "disconnect"}], "### ⚠️"),
    "tool round": (
        [
            script(function_calls=[call("weather", {"city": "Paris"}, "c1")]),
            script(text="It is sunny."),
        ],
        "It is sunny.",
    ),
}


@pytest.mark.parametrize("case", list(CYCLE_CASES))
async def test_a_finished_chat_leaves_nothing_for_the_cyclic_garbage_collector(
    openrouter_sim, case
):
    """Every object a chat made, answer or failure, is freed by reference counting when it
    ends. Objects kept alive by a reference cycle (a closure over its owner, an error kept by
    an object its traceback's frames hold) pile up until a full collection, which walks the
    whole heap of the Open WebUI worker and stops every stream in it meanwhile."""
    specs, expected = CYCLE_CASES[case]
    p = make_pipe(openrouter_sim, MAX_RETRIES=0)
    tools = owui_tools(("weather", _weather, CITY))
    for _ in range(2):  # warm: catalog, the connection pool
        await consume(await p.pipe(body=chat_body(), __user__=user(), __metadata__=metadata()))
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            for spec in specs:
                openrouter_sim.enqueue(spec)
            gen = await p.pipe(
                body=chat_body(), __user__=user(), __metadata__=metadata(), __tools__=tools
            )
            out = await consume(gen)
            assert expected in out.text
            del gen, out
        await asyncio.sleep(0.05)
        gc.collect()
        ours = [o for o in gc.garbage if type(o).__module__.split(".")[0] == "pipe"]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert ours == [], sorted({type(o).__qualname__ for o in ours})
