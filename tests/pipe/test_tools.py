"""The tool-call loop through the Pipe's public contract, against the fake OpenRouter over
loopback: `__tools__` built the way Open WebUI 0.12 builds it, real HTTP, real streams."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pipe.markers import find_markers, strip_markers
from tests.pipe.helpers import (
    Recorder,
    chat_body,
    make_pipe,
    run_pipe,
)
from tests.pipe.tool_helpers import CITY, call, error_of, outputs_of, owui_tools, script, sent


async def test_one_tool_round_trip(openrouter_sim):
    seen: list[dict[str, Any]] = []

    async def get_weather(city: str) -> str:
        seen.append({"city": city})
        return "sunny, 21 °C"

    openrouter_sim.enqueue(
        script(
            function_calls=[call("get_weather", {"city": "Paris"}, "call_w1")],
            usage={"input_tokens": 10, "output_tokens": 5, "cost": 0.001},
        ),
        script(
            text="It is sunny in Paris.",
            usage={"input_tokens": 30, "output_tokens": 7, "cost": 0.002},
        ),
    )
    rec = Recorder()
    out = await run_pipe(
        make_pipe(openrouter_sim),
        chat_body("Weather in Paris?", tools=[{"type": "function", "function": {"name": "x"}}]),
        rec,
        __tools__=owui_tools(("get_weather", get_weather, CITY)),
    )
    assert out.text == "It is sunny in Paris."
    assert seen == [{"city": "Paris"}]
    first, second = sent(openrouter_sim, -2), sent(openrouter_sim, -1)
    # The tools offered are Open WebUI's registry, in the flat Responses shape.
    assert first["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "The get_weather tool",
            "parameters": CITY,
        }
    ]
    kinds = [(i["type"], i.get("call_id")) for i in second["input"]]
    assert kinds[-2:] == [("function_call", "call_w1"), ("function_call_output", "call_w1")]
    assert outputs_of(second) == {"call_w1": "sunny, 21 °C"}
    assert second["tools"] == first["tools"]
    statuses = rec.statuses()
    assert "Running get_weather…" in statuses and "Ran get_weather" in statuses
    running = next(e for e in rec.of_type("status") if e["data"]["description"].startswith("Run"))
    assert running["data"]["done"] is False
    # usage of both rounds, summed
    assert out.usage["prompt_tokens"] == 40 and out.usage["completion_tokens"] == 12
    assert abs(out.usage["cost"] - 0.003) < 1e-9
    assert out.finish_reason == "stop"


async def test_calls_of_one_round_overlap(openrouter_sim):
    active, peak = 0, 0
    all_in = asyncio.Event()

    async def lookup(key: str) -> str:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        if active == 3:
            all_in.set()
        await all_in.wait()  # only returns if all three calls run at the same time
        active -= 1
        return f"value of {key}"

    calls = [call("lookup", {"key": k}, f"c_{k}") for k in "abc"]
    openrouter_sim.enqueue(script(function_calls=calls), script(text="done"))
    out = await run_pipe(
        make_pipe(openrouter_sim, TOOL_TIMEOUT_SECONDS=20),
        chat_body("look up a, b, c"),
        __tools__=owui_tools(("lookup", lookup, None)),
    )
    assert out.text == "done"
    assert peak == 3
    assert outputs_of(sent(openrouter_sim)) == {f"c_{k}": f"value of {k}" for k in "abc"}


async def test_per_request_bound_is_honoured(openrouter_sim):
    active, peak, entered = 0, 0, 0
    pair_in = asyncio.Event()

    async def work(n: int) -> int:
        nonlocal active, peak, entered
        active += 1
        entered += 1
        peak = max(peak, active)
        if active == 2:
            pair_in.set()
        await pair_in.wait()  # the first two must overlap; a sequential run would time out
        for _ in range(5):
            await asyncio.sleep(0)  # give a third call every chance to start if unbounded
        active -= 1
        return n * 10

    calls = [call("work", {"n": n}, f"c{n}") for n in range(5)]
    openrouter_sim.enqueue(script(function_calls=calls), script(text="ok"))
    out = await run_pipe(
        make_pipe(openrouter_sim, MAX_PARALLEL_TOOLS_PER_REQUEST=2, TOOL_TIMEOUT_SECONDS=20),
        chat_body("work"),
        __tools__=owui_tools(("work", work, None)),
    )
    assert out.text == "ok"
    assert peak == 2 and entered == 5
    assert outputs_of(sent(openrouter_sim)) == {f"c{n}": str(n * 10) for n in range(5)}


async def test_process_wide_bound_is_honoured_across_requests(openrouter_sim):
    active, peak = 0, 0

    async def step(n: int) -> str:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        for _ in range(5):
            await asyncio.sleep(0)
        active -= 1
        return "ok"

    p = make_pipe(openrouter_sim, MAX_PARALLEL_TOOLS_GLOBAL=1, MAX_PARALLEL_TOOLS_PER_REQUEST=5)
    for _ in range(2):
        openrouter_sim.enqueue(
            script(function_calls=[call("step", {"n": n}, f"s{n}") for n in range(3)]),
        )
    for _ in range(2):
        openrouter_sim.enqueue(script(text="fine"))

    async def one() -> str:
        out = await run_pipe(p, chat_body("steps"), __tools__=owui_tools(("step", step, None)))
        return out.text

    assert await asyncio.gather(one(), one()) == ["fine", "fine"]
    assert peak == 1


async def test_every_error_kind_reaches_the_model_and_nothing_is_retried(openrouter_sim):
    invocations: list[str] = []
    never = asyncio.Event()
    cancelled: list[bool] = []

    async def charge_card(amount: float) -> str:
        invocations.append("charge_card")
        raise RuntimeError("card declined")

    async def slow_report() -> str:
        invocations.append("slow_report")
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "too late"

    async def get_weather(city: str) -> str:
        invocations.append("get_weather")
        return "never"

    tools = owui_tools(
        (
            "charge_card",
            charge_card,
            {"type": "object", "properties": {"amount": {"type": "number"}}},
        ),
        ("slow_report", slow_report, None),
        ("get_weather", get_weather, CITY),
    )
    calls = [
        call("charge_card", {"amount": 10}, "c_raise"),
        call("slow_report", {}, "c_slow"),
        call("book_flight", {"to": "Oslo"}, "c_unknown"),
        call("get_weather", "{city: Paris", "c_json"),
        call("get_weather", {}, "c_missing"),
        call("get_weather", {"city": 7}, "c_type"),
        call("get_weather", "[1, 2]", "c_array"),
    ]
    openrouter_sim.enqueue(script(function_calls=calls), script(text="Several things failed."))
    rec = Recorder()
    out = await run_pipe(
        make_pipe(openrouter_sim, TOOL_TIMEOUT_SECONDS=0.05),
        chat_body("do it all"),
        rec,
        __tools__=tools,
    )
    assert out.text == "Several things failed."  # the chat goes on
    assert sorted(invocations) == ["charge_card", "slow_report"]  # each once: no retries
    assert cancelled == [True]
    outs = {k: error_of(v) for k, v in outputs_of(sent(openrouter_sim)).items()}
    assert outs["c_raise"]["kind"] == "tool_error"
    assert "RuntimeError: card declined" in outs["c_raise"]["message"]
    assert outs["c_slow"]["kind"] == "timeout" and "timed out" in outs["c_slow"]["message"]
    assert "TOOL_TIMEOUT_SECONDS" in outs["c_slow"]["message"]
    assert outs["c_unknown"]["kind"] == "unknown_tool"
    assert outs["c_unknown"]["tool"] == "book_flight"
    assert outs["c_unknown"]["available_tools"] == ["charge_card", "get_weather", "slow_report"]
    assert "get_weather" in outs["c_unknown"]["message"]
    assert outs["c_json"]["kind"] == "invalid_arguments"
    assert "invalid JSON" in outs["c_json"]["message"]
    assert outs["c_json"]["arguments"] == "{city: Paris"
    assert outs["c_missing"]["kind"] == "invalid_arguments"
    assert "missing required property 'city'" in outs["c_missing"]["message"]
    assert outs["c_type"]["kind"] == "invalid_arguments"
    assert "arguments.city must be string, got integer" in outs["c_type"]["message"]
    assert outs["c_array"]["kind"] == "invalid_arguments"
    assert any("failed" in s for s in rec.statuses())


async def test_loop_limit_stops_with_a_notice(openrouter_sim):
    runs: list[int] = []

    async def ping() -> str:
        runs.append(1)
        return "pong"

    openrouter_sim.enqueue(
        script(text="Pinging.", function_calls=[call("ping", {}, "l1")]),
        script(function_calls=[call("ping", {}, "l2")]),
        script(function_calls=[call("ping", {}, "l3")]),
    )
    out = await run_pipe(
        make_pipe(openrouter_sim, MAX_FUNCTION_CALL_LOOPS=1),
        chat_body("ping forever"),
        __tools__=owui_tools(("ping", ping, None)),
    )
    assert len(runs) == 1
    assert len(openrouter_sim.requests_to("/responses")) == 2  # no third call
    assert out.text.startswith("Pinging.\n\n*Stopped after 1 tool round ")
    assert "MAX_FUNCTION_CALL_LOOPS = 1" in out.text and "ping" in out.text
    assert out.finish_reason == "stop"


async def test_reasoning_is_replayed_paired_with_the_call_that_followed(openrouter_sim):
    async def lookup() -> str:
        return "found"

    openrouter_sim.enqueue(
        script(
            model="openai/o4-mini",
            reasoning="I should look it up.",
            encrypted_reasoning=True,
            reasoning_format="openai-responses-v1",
            function_calls=[call("lookup", {}, "c_r")],
        ),
        script(model="openai/o4-mini", reasoning="Now answer.", text="Found it."),
    )
    out = await run_pipe(
        make_pipe(openrouter_sim),
        chat_body("Look it up.", model="openai.o4-mini"),
        __tools__=owui_tools(("lookup", lookup, None)),
    )
    assert out.text == "Found it."
    assert "I should look it up." in out.reasoning and "Now answer." in out.reasoning
    first, second = sent(openrouter_sim, -2), sent(openrouter_sim, -1)
    assert first["include"] == ["reasoning.encrypted_content"]
    assert second["include"] == ["reasoning.encrypted_content"]
    replay = second["input"][-3:]
    assert [i["type"] for i in replay] == ["reasoning", "function_call", "function_call_output"]
    reasoning = replay[0]
    assert reasoning["encrypted_content"].startswith("orsim-enc-v1.")
    assert reasoning["format"] == "openai-responses-v1"  # every field, verbatim
    assert reasoning["summary"] == [{"type": "summary_text", "text": "I should look it up."}]
    assert replay[1]["call_id"] == "c_r" and replay[1]["id"].startswith("fc_")


async def test_reasoning_without_encrypted_content_is_not_replayed(openrouter_sim):
    async def lookup() -> str:
        return "found"

    openrouter_sim.enqueue(
        script(
            model="openai/o4-mini",
            reasoning="plain summary",
            function_calls=[call("lookup", {}, "c_plain")],
        ),
        script(model="openai/o4-mini", text="ok"),
    )
    await run_pipe(
        make_pipe(openrouter_sim),
        chat_body("x", model="openai.o4-mini"),
        __tools__=owui_tools(("lookup", lookup, None)),
    )
    types = [i["type"] for i in sent(openrouter_sim)["input"]]
    assert "reasoning" not in types and types[-2:] == ["function_call", "function_call_output"]


async def test_model_without_tool_support_gets_no_tools(openrouter_sim):
    async def get_weather(city: str) -> str:
        return "x"

    openrouter_sim.enqueue(script(model="perplexity/sonar", text="Usually mild."))
    out = await run_pipe(
        make_pipe(openrouter_sim),
        chat_body("Weather?", model="perplexity.sonar", tool_choice="auto"),
        __tools__=owui_tools(("get_weather", get_weather, CITY)),
    )
    assert out.text == "Usually mild."
    body = sent(openrouter_sim)
    assert "tools" not in body and "tool_choice" not in body


async def test_text_of_successive_rounds_is_separated(openrouter_sim):
    async def ping() -> str:
        return "pong"

    openrouter_sim.enqueue(
        script(text="Let me check.", function_calls=[call("ping", {}, "p1")]),
        script(text="All good."),
    )
    out = await run_pipe(
        make_pipe(openrouter_sim),
        chat_body("check"),
        __tools__=owui_tools(("ping", ping, None)),
    )
    assert out.text == "Let me check.\n\nAll good."
    # the assistant message of round one is replayed before its call
    replay = [i["type"] for i in sent(openrouter_sim)["input"]][-3:]
    assert replay == ["message", "function_call", "function_call_output"]


async def test_outputs_sync_tools_json_values_and_the_size_cap(openrouter_sim):
    def sync_tool(n: int) -> dict[str, Any]:  # a plain function runs in a worker thread
        return {"n": n, "items": [1, 2]}

    async def nothing() -> None:
        return None

    async def big() -> str:
        return "x" * 500

    tools = owui_tools(
        ("sync_tool", sync_tool, None), ("nothing", nothing, None), ("big", big, None)
    )
    openrouter_sim.enqueue(
        script(
            function_calls=[
                call("sync_tool", {"n": 3}, "c_sync"),
                call("nothing", {}, "c_none"),
                call("big", {}, "c_big"),
            ]
        ),
        script(text="ok"),
    )
    await run_pipe(
        make_pipe(openrouter_sim, TOOL_OUTPUT_MAX_CHARS=100),
        chat_body("x"),
        __tools__=tools,
    )
    outs = outputs_of(sent(openrouter_sim))
    assert json.loads(outs["c_sync"]) == {"n": 3, "items": [1, 2]}
    assert outs["c_none"] == "null"
    assert outs["c_big"].startswith("x" * 100 + "\n[output truncated: 500 characters")
    assert "TOOL_OUTPUT_MAX_CHARS" in outs["c_big"]


async def test_non_streaming_chat_runs_the_loop_too(openrouter_sim):
    async def get_weather(city: str) -> str:
        return "rainy"

    openrouter_sim.enqueue(
        script(function_calls=[call("get_weather", {"city": "Oslo"}, "c_ns")]),
        script(text="Rainy in Oslo."),
    )
    p = make_pipe(openrouter_sim)
    result = await p.pipe(
        body=chat_body("Oslo?", stream=False),
        __user__={"id": "u"},
        __metadata__={},
        __tools__=owui_tools(("get_weather", get_weather, CITY)),
    )
    # The answer plus the markers of the stored call/output pair (invisible when rendered).
    assert strip_markers(result) == "Rainy in Oslo." and len(find_markers(result)) == 2
    assert outputs_of(sent(openrouter_sim)) == {"c_ns": "rainy"}


async def test_non_streaming_loop_limit_stops_with_a_notice(openrouter_sim):
    async def ping() -> str:
        return "pong"

    openrouter_sim.enqueue(
        script(text="Pinging.", function_calls=[call("ping", {}, "n1")]),
        script(function_calls=[call("ping", {}, "n2")]),
    )
    result = await make_pipe(openrouter_sim, MAX_FUNCTION_CALL_LOOPS=1).pipe(
        body=chat_body("ping", stream=False),
        __user__={"id": "u"},
        __metadata__={},
        __tools__=owui_tools(("ping", ping, None)),
    )
    assert len(openrouter_sim.requests_to("/responses")) == 2
    assert result.startswith("Pinging.\n\n*Stopped after 1 tool round ")


async def test_each_output_follows_its_call_in_the_calls_order(openrouter_sim):
    """The replayed round: every `function_call` is in the next request, each output comes
    after all of the round's calls, with the same call_id and in the calls' order, even when
    the tools finish in the opposite order."""

    async def slow(city: str) -> str:
        await asyncio.sleep(0.05)
        return f"slow {city}"

    async def fast(city: str) -> str:
        return f"fast {city}"

    calls = [call("slow", {"city": "A"}, "c_a"), call("fast", {"city": "B"}, "c_b")]
    openrouter_sim.enqueue(script(function_calls=calls), script(text="done"))
    out = await run_pipe(
        make_pipe(openrouter_sim),
        chat_body("go"),
        __tools__=owui_tools(("slow", slow, CITY), ("fast", fast, CITY)),
    )
    assert out.text == "done"
    items = sent(openrouter_sim)["input"]
    tail = [(i["type"], i.get("call_id")) for i in items if i["type"].startswith("function_call")]
    assert tail == [
        ("function_call", "c_a"),
        ("function_call", "c_b"),
        ("function_call_output", "c_a"),
        ("function_call_output", "c_b"),
    ]
    assert outputs_of(sent(openrouter_sim)) == {"c_a": "slow A", "c_b": "fast B"}
    assert items[-4]["name"] == "slow" and json.loads(items[-4]["arguments"]) == {"city": "A"}


async def test_user_leaving_cancels_running_tools(openrouter_sim):
    started, never = asyncio.Event(), asyncio.Event()
    cancelled: list[bool] = []

    async def slow() -> str:
        started.set()
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "x"

    openrouter_sim.enqueue(script(text="Working.", function_calls=[call("slow", {}, "c_c")]))
    p = make_pipe(openrouter_sim, TOOL_TIMEOUT_SECONDS=60)
    gen = await p.pipe(
        body=chat_body("x"),
        __user__={"id": "u"},
        __metadata__={},
        __tools__=owui_tools(("slow", slow, None)),
    )

    async def consume() -> None:
        async for _ in gen:
            pass

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 20)
    task.cancel()  # Open WebUI cancels the response task when the user stops it
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert cancelled == [True]
    assert len(openrouter_sim.requests_to("/responses")) == 1


async def test_a_later_round_is_retried_while_nothing_of_it_was_shown(openrouter_sim):
    async def ping() -> str:
        return "pong"

    openrouter_sim.enqueue(
        script(text="Checking.", function_calls=[call("ping", {}, "p_r")]),
        {"script": {"seed": 1, "text": "Recovered."}, "fault": "server_error;status=503;count=1"},
    )
    out = await run_pipe(
        make_pipe(openrouter_sim),
        chat_body("x"),
        __tools__=owui_tools(("ping", ping, None)),
    )
    assert out.text == "Checking.\n\nRecovered."  # nothing lost, nothing doubled
    assert len(openrouter_sim.requests_to("/responses")) == 3
    assert outputs_of(sent(openrouter_sim)) == {"p_r": "pong"}


async def test_a_later_round_failing_keeps_the_earlier_text_and_shows_the_error(openrouter_sim):
    async def ping() -> str:
        return "pong"

    openrouter_sim.enqueue(
        script(text="Checking.", function_calls=[call("ping", {}, "p_f")]),
        {"script": {"seed": 1, "text": "never"}, "fault": "server_error;status=502;count=5"},
    )
    rec = Recorder()
    out = await run_pipe(
        make_pipe(openrouter_sim, MAX_RETRIES=0),
        chat_body("x"),
        rec,
        __tools__=owui_tools(("ping", ping, None)),
    )
    assert out.text.startswith("Checking.\n\n")
    assert "provider had an error" in out.text
    assert any(e["data"].get("error") for e in rec.of_type("status"))


async def test_tool_status_lines_follow_show_progress_status(openrouter_sim):
    async def ping() -> str:
        return "pong"

    openrouter_sim.enqueue(script(function_calls=[call("ping", {}, "p_s")]), script(text="ok"))
    rec = Recorder()
    await run_pipe(
        make_pipe(openrouter_sim, SHOW_PROGRESS_STATUS=False),
        chat_body("x"),
        rec,
        __tools__=owui_tools(("ping", ping, None)),
    )
    assert not [s for s in rec.statuses() if "ping" in s]
