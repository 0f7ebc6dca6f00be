"""Task requests (titles, tags, follow-ups) and non-streaming chat."""

from __future__ import annotations

import json

from tests.pipe.helpers import (
    Recorder,
    chat_body,
    make_pipe,
    metadata,
    user,
)


async def test_title_task_is_non_streaming_low_effort_no_tools_no_status(openrouter_sim):
    openrouter_sim.enqueue(
        {"script": {"text": '{"title": "Primes and 221"}', "reasoning": "short"}}
    )
    rec = Recorder()
    p = make_pipe(openrouter_sim)
    body = chat_body(
        "Generate a title",
        model="openai.o4-mini",
        stream=False,
        tools=[{"type": "function", "function": {"name": "f"}}],
    )
    result = await p.pipe(
        body=body,
        __user__=user(),
        __metadata__=metadata(),
        __event_emitter__=rec,
        __task__="title_generation",
        __task_body__={"model": body["model"], "messages": body["messages"]},
    )
    assert json.loads(result[result.index("{") : result.rindex("}") + 1]) == {
        "title": "Primes and 221"
    }
    assert rec.events == []
    sent = openrouter_sim.requests_to("/responses")[-1]["body"]
    assert sent["stream"] is False
    assert sent["reasoning"] == {"effort": "low"}
    assert "tools" not in sent and "include" not in sent


async def test_task_even_if_body_asks_for_stream_runs_non_streaming(openrouter_sim):
    p = make_pipe(openrouter_sim, TASK_REASONING_EFFORT="minimal")
    result = await p.pipe(
        body=chat_body("tags please", model="openai.o4-mini", stream=True),
        __user__=user(),
        __task__="tags_generation",
    )
    assert result == "You said: tags please"
    sent = openrouter_sim.requests_to("/responses")[-1]["body"]
    assert sent["stream"] is False and sent["reasoning"]["effort"] == "minimal"


async def test_task_bypasses_model_allowlist(openrouter_sim):
    p = make_pipe(openrouter_sim, MODEL_ID="openai/gpt-4o")
    result = await p.pipe(
        body=chat_body("title", model="openai.gpt-4o-mini", stream=False),
        __task__="title_generation",
    )
    assert result == "You said: title"


async def test_non_streaming_chat_emits_citations_and_final_status(openrouter_sim):
    openrouter_sim.enqueue(
        {
            "script": {
                "text": "Answer.",
                "citations": [{"url": "https://x.example", "title": "X"}],
                "usage": {"input_tokens": 3, "output_tokens": 2, "cost": 0.5},
            }
        }
    )
    rec = Recorder()
    p = make_pipe(openrouter_sim)
    result = await p.pipe(
        body=chat_body("q", stream=False),
        __user__=user(),
        __metadata__=metadata(),
        __event_emitter__=rec,
    )
    assert result == "Answer."
    assert rec.of_type("source")[0]["data"]["source"]["url"] == "https://x.example"
    assert "3 in" in rec.statuses()[-1] and "$0.5" in rec.statuses()[-1]


async def test_emitter_failure_never_breaks_the_answer(openrouter_sim):
    async def broken(event):
        raise ConnectionError("socket gone")

    openrouter_sim.enqueue({"script": {"text": "still here", "reasoning": "r"}})
    p = make_pipe(openrouter_sim)
    gen = await p.pipe(
        body=chat_body("x", model="openai.o4-mini"),
        __user__=user(),
        __metadata__=metadata(),
        __event_emitter__=broken,
    )
    chunks = [c async for c in gen]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "still here"
