"""Streaming output through the public contract against the fake OpenRouter over loopback:
text, native reasoning, status lines, citations, usage, incomplete answers, quirks."""

from __future__ import annotations

from tests.pipe.helpers import (
    Recorder,
    chat_body,
    make_pipe,
    run_pipe,
)

REASONING = "221 is 13 times 17, so it is not prime."
ANSWER = "No, 221 = 13 × 17 — it is composite. ✓"


def script(fault=None, **fields):
    spec = {"script": {"seed": 1, **fields}}
    if fault:
        spec["fault"] = fault
    return spec


async def test_text_and_reasoning_stream_natively(openrouter_sim):
    openrouter_sim.enqueue(
        script(
            reasoning=REASONING,
            text=ANSWER,
            usage={
                "input_tokens": 20,
                "output_tokens": 30,
                "reasoning_tokens": 12,
                "cached_tokens": 5,
                "cost": 0.00123,
            },
        )
    )
    rec = Recorder()
    out = await run_pipe(
        make_pipe(openrouter_sim), chat_body("Is 221 prime?", model="openai.o4-mini"), rec
    )
    assert out.text == ANSWER
    assert out.reasoning == REASONING
    # reasoning chunks come before the first text chunk
    kinds = [
        ("r" if c["choices"][0]["delta"].get("reasoning_content") else "t")
        for c in out.chunks
        if c["choices"][0]["delta"]
    ]
    assert kinds.index("t") > kinds.index("r") and "r" not in kinds[kinds.index("t") :]
    usage = out.usage
    assert usage["prompt_tokens"] == 20 and usage["completion_tokens"] == 30
    assert usage["prompt_tokens_details"]["cached_tokens"] == 5
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 12
    assert usage["cost"] == 0.00123
    statuses = rec.statuses()
    assert statuses[0] == "Thinking…"
    assert statuses[1].startswith("Thought for ") and rec.of_type("status")[1]["data"]["done"]
    final = statuses[-1]
    assert (
        "20 in (5 cached)" in final
        and "30 out (12 reasoning)" in final
        and "$0.00123" in final
        and "tok/s" in final
    )
    assert rec.of_type("status")[-1]["data"]["done"] is True


async def test_request_carries_reasoning_include_and_attribution(openrouter_sim):
    await run_pipe(
        make_pipe(openrouter_sim, APP_TITLE="Acme Chat", HTTP_REFERER="https://chat.acme.test/"),
        chat_body("hi", model="openai.o4-mini"),
    )
    entry = openrouter_sim.requests_to("/responses")[-1]
    body, headers = entry["body"], entry["headers"]
    assert body["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["stream"] is True
    assert headers["http-referer"] == "https://chat.acme.test/"
    assert headers["x-openrouter-title"] == "Acme Chat"
    assert headers["authorization"] == "[redacted]"  # the simulator saw a bearer key


async def test_citations_become_source_events_once(openrouter_sim):
    cites = [
        {"url": "https://a.example/x", "title": "A", "content": "excerpt A"},
        {"url": "https://b.example/y", "title": "B"},
    ]
    openrouter_sim.enqueue(
        script(
            text="Answer with sources.",
            citations=cites,
            web_search=True,
            web_search_query="sources please",
        )
    )
    rec = Recorder()
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("search", model="openai.gpt-4o"), rec)
    assert out.text == "Answer with sources."
    sources = rec.of_type("source")
    assert [s["data"]["source"]["url"] for s in sources] == [
        "https://a.example/x",
        "https://b.example/y",
    ]
    assert sources[0]["data"]["document"] == ["excerpt A"]
    assert sources[0]["data"]["metadata"][0]["url"] == "https://a.example/x"
    statuses = rec.statuses()
    assert "Searching the web…" in statuses
    assert "Searched the web: sources please" in statuses


async def test_show_status_valves_and_user_override(openrouter_sim):
    openrouter_sim.enqueue(script(reasoning="hmm", text="ok"))
    rec = Recorder()
    p = make_pipe(openrouter_sim, SHOW_FINAL_USAGE_STATUS=False, SHOW_PROGRESS_STATUS=False)
    await run_pipe(p, chat_body("x", model="openai.o4-mini"), rec)
    assert rec.of_type("status") == []
    from tests.pipe.helpers import user

    openrouter_sim.enqueue(script(text="ok"))
    rec = Recorder()
    await run_pipe(p, chat_body("x"), rec, __user__=user(SHOW_FINAL_USAGE_STATUS=True))
    assert len(rec.of_type("status")) == 1 and "in" in rec.statuses()[0]


async def test_incomplete_answer_keeps_text_and_says_why(openrouter_sim):
    openrouter_sim.enqueue(script(text="Partial answer", status="incomplete"))
    rec = Recorder()
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("long"), rec)
    assert out.text == "Partial answer"
    assert out.finish_reason == "length"
    assert "stopped: max output tokens" in rec.statuses()[-1]


async def test_late_closing_reasoning_is_shown_once(openrouter_sim):
    openrouter_sim.enqueue(script(reasoning="step one", text="final", fault="late_reasoning"))
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("q", model="openai.o4-mini"))
    assert out.text == "final"
    assert out.reasoning == "step one"


async def test_reasoning_only_in_output_item_done_is_still_shown(openrouter_sim):
    openrouter_sim.enqueue(
        script(reasoning="hidden summary", text="answer", fault="summary_in_done")
    )
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("q", model="openai.o4-mini"))
    assert out.reasoning == "hidden summary"
    assert out.text == "answer"


async def test_raw_reasoning_text_style(openrouter_sim):
    openrouter_sim.enqueue(script(reasoning="raw chain", reasoning_style="raw", text="done"))
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("q", model="deepseek.deepseek-r1"))
    assert out.reasoning == "raw chain" and out.text == "done"


async def test_keepalive_comments_and_unknown_events_are_harmless(openrouter_sim):
    events = [
        {
            "type": "response.created",
            "response": {
                "id": "r1",
                "object": "response",
                "model": "openai/gpt-4o",
                "status": "in_progress",
                "output": [],
            },
        },
        {"type": "response.debug", "debug": {"x": 1}},
        {
            "type": "response.output_text.delta",
            "item_id": "m1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hi",
            "logprobs": [],
        },
        {"type": "response.fusion_call.in_progress", "item_id": "f"},
        {
            "type": "response.completed",
            "response": {
                "id": "r1",
                "object": "response",
                "model": "openai/gpt-4o",
                "status": "completed",
                "output": [],
                "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
            },
        },
    ]
    openrouter_sim.enqueue({"events": events, "fault": "keepalive;after=2;comments=4"})
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("x"))
    assert out.text == "Hi"
    assert out.usage["total_tokens"] == 2


async def test_text_only_in_final_response_is_shown(openrouter_sim):
    message = {
        "type": "message",
        "id": "m1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "From the end", "annotations": []}],
    }
    events = [
        {
            "type": "response.created",
            "response": {
                "id": "r1",
                "object": "response",
                "model": "m",
                "status": "in_progress",
                "output": [],
            },
        },
        {
            "type": "response.completed",
            "response": {
                "id": "r1",
                "object": "response",
                "model": "m",
                "status": "completed",
                "output": [message],
            },
        },
    ]
    openrouter_sim.enqueue({"events": events})
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("x"))
    assert out.text == "From the end"


async def test_function_calls_are_collected_for_the_tool_loop(openrouter_sim):
    from pipe.orchestrator import ChatRun  # noqa: F401  (the run object keeps the outcome)

    openrouter_sim.enqueue(
        script(
            function_calls=[
                {"name": "get_weather", "arguments": {"city": "Oslo"}},
                {"name": "get_time", "arguments": "{}"},
            ]
        )
    )
    p = make_pipe(openrouter_sim)
    body = chat_body(
        "weather?",
        tools=[
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": {"type": "object"}},
            }
        ],
    )
    out = await run_pipe(p, body)
    sent = openrouter_sim.requests_to("/responses")[-1]["body"]
    assert sent["tools"][0]["name"] == "get_weather"
    assert out.text == ""
    # Client-sent tools without `__tools__`: the calls go back to the client (docs/tools.md).
    handed = [c for c in out.chunks if c["choices"][0]["delta"].get("tool_calls")]
    names = [t["function"]["name"] for t in handed[0]["choices"][0]["delta"]["tool_calls"]]
    assert names == ["get_weather", "get_time"]
    assert out.finish_reason == "tool_calls"


async def test_concurrent_requests_on_one_instance_do_not_mix(openrouter_sim):
    import asyncio

    p = make_pipe(openrouter_sim, STREAM_COALESCE_MS=5)

    async def one(n: int) -> tuple[int, str, list[str]]:
        rec = Recorder()
        out = await run_pipe(p, chat_body(f"message number {n}"), rec)
        return n, out.text, rec.statuses()

    results = await asyncio.gather(*(one(n) for n in range(25)))
    for n, text, statuses in results:
        assert text == f"You said: message number {n}"
        assert len(statuses) == 1  # each request's own final status, nothing from the others
