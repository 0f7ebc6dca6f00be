"""The four resilience behaviours, over real HTTP against the fake OpenRouter, which stages
each failure: a per-key cool-down after 401 or a non-moderation 403 (holds.UpstreamGate), a per-user breaker, `/chat/completions` when
`/responses` is refused for a model, and one retry without reasoning parameters."""

from __future__ import annotations

import pytest

from simulator.openrouter.state import SimConfig
from tests.pipe.helpers import chat_body, make_pipe, metadata, run_pipe, user

GPT5 = "openai.gpt-5-mini"  # reasons: the pipe sends `reasoning`


def text_of(out) -> str:
    return "".join(c for c in out.chunks if isinstance(c, str)) or out.text


async def chat(pipe, text="hi", *, who="user-1", **body):
    u = user()
    u["id"] = who
    return text_of(
        await run_pipe(pipe, {**chat_body(text), **body}, __user__=u, __metadata__=metadata())
    )


# ---------------------------------------------------------------- 401: per-key cool-down


async def test_a_rejected_key_cools_down_instead_of_being_retried(openrouter_sim):
    openrouter_sim.state.config = SimConfig(api_keys=["sk-or-the-real-key"])
    pipe = make_pipe(openrouter_sim, AUTH_FAILURE_COOLDOWN_SECONDS=60)
    first = await chat(pipe)
    assert "OpenRouter authentication failed" in first
    second = await chat(pipe, who="user-2")  # every user: it is the key that is dead
    assert "not trying it again" in second
    assert len(openrouter_sim.requests_to("/responses")) == 1


async def test_the_cool_down_can_be_turned_off(openrouter_sim):
    openrouter_sim.state.config = SimConfig(api_keys=["sk-or-the-real-key"])
    pipe = make_pipe(openrouter_sim, AUTH_FAILURE_COOLDOWN_SECONDS=0)
    await chat(pipe)
    await chat(pipe)
    assert len(openrouter_sim.requests_to("/responses")) == 2


async def test_a_moderation_refusal_does_not_cool_the_key_down(openrouter_sim):
    moderation = {
        "status": 403,
        "body": {
            "error": {
                "code": 403,
                "message": "Input flagged",
                "metadata": {"reasons": ["violence"], "flagged_input": "..."},
            }
        },
    }
    openrouter_sim.enqueue(moderation)
    pipe = make_pipe(openrouter_sim)
    assert "OpenRouter refused this request" in await chat(pipe)
    assert await chat(pipe) == "You said: hi"


async def test_a_403_refusing_the_key_cools_it_down_for_every_user(openrouter_sim):
    disabled = {"status": 403, "body": {"error": {"code": 403, "message": "Key is disabled"}}}
    openrouter_sim.enqueue(disabled)
    pipe = make_pipe(openrouter_sim, AUTH_FAILURE_COOLDOWN_SECONDS=60)
    assert "OpenRouter refused this request" in await chat(pipe)
    assert "not trying it again" in await chat(pipe, who="user-2")
    assert len(openrouter_sim.requests_to("/responses")) == 1


# ---------------------------------------------------------------- per-user breaker


async def test_a_user_whose_requests_keep_failing_is_paused_alone(openrouter_sim):
    for _ in range(2):
        openrouter_sim.enqueue({"status": 500})
    pipe = make_pipe(openrouter_sim, MAX_RETRIES=0, BREAKER_MAX_FAILURES=2)
    assert "had an error" in await chat(pipe, who="unlucky")
    assert "had an error" in await chat(pipe, who="unlucky")
    paused = await chat(pipe, who="unlucky")
    assert "Paused after repeated failures" in paused and "paused for" in paused
    assert await chat(pipe, who="someone-else") == "You said: hi"
    assert len(openrouter_sim.requests_to("/responses")) == 3  # the paused chat cost nothing


async def test_a_success_resets_the_breaker(openrouter_sim):
    openrouter_sim.enqueue({"status": 500}, {"script": {"text": "fine"}}, {"status": 500})
    pipe = make_pipe(openrouter_sim, MAX_RETRIES=0, BREAKER_MAX_FAILURES=2)
    await chat(pipe)
    assert await chat(pipe) == "fine"
    await chat(pipe)
    assert await chat(pipe) == "You said: hi"  # one failure since the success: not paused


async def test_a_malformed_request_does_not_count_against_the_user(openrouter_sim):
    pipe = make_pipe(openrouter_sim, BREAKER_MAX_FAILURES=1)
    assert "malformed" in await chat(pipe, temperature=9)
    assert await chat(pipe) == "You said: hi"


# ---------------------------------------------------------------- /chat/completions fallback


@pytest.mark.parametrize("stream", [True, False])
async def test_a_model_refused_on_responses_is_asked_on_chat_completions(openrouter_sim, stream):
    openrouter_sim.state.config = SimConfig(responses_refused_models=["openai/gpt-4o-mini"])
    pipe = make_pipe(openrouter_sim)
    assert await chat(pipe, "first", stream=stream) == "You said: first"
    assert await chat(pipe, "second", stream=stream) == "You said: second"
    paths = [e["path"].rsplit("/", 1)[-1] for e in openrouter_sim.requests_to("")]
    inference = [p for p in paths if p in ("responses", "completions")]
    # refused once; then remembered: the second chat goes to /chat/completions directly
    assert inference == ["responses", "completions", "completions"]
    sent = openrouter_sim.requests_to("/chat/completions")[-1]["body"]
    assert sent["messages"][-1] == {"role": "user", "content": [{"type": "text", "text": "second"}]}


async def test_the_fallback_carries_usage_and_tool_calls(openrouter_sim):
    openrouter_sim.state.config = SimConfig(responses_refused_models=["openai/gpt-4o-mini"])
    call = {"name": "get_weather", "arguments": {"city": "Paris"}, "call_id": "call_w1"}
    openrouter_sim.enqueue({"script": {"function_calls": [call]}})
    pipe = make_pipe(openrouter_sim, TOOL_EXECUTION_MODE="open_webui")
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    out = await run_pipe(pipe, {**chat_body("weather?"), "tools": tools})
    calls = [c for chunk in out.chunks for c in chunk["choices"][0]["delta"].get("tool_calls", [])]
    assert calls and calls[0]["function"]["name"] == "get_weather"
    assert calls[0]["id"] == "call_w1"
    assert out.finish_reason == "tool_calls" and out.usage["completion_tokens"] > 0


async def test_without_the_fallback_the_refusal_is_shown(openrouter_sim):
    openrouter_sim.state.config = SimConfig(responses_refused_models=["openai/gpt-4o-mini"])
    pipe = make_pipe(openrouter_sim, CHAT_COMPLETIONS_FALLBACK=False)
    assert "not supported on the Responses API" in await chat(pipe)
    assert openrouter_sim.requests_to("/chat/completions") == []


# ---------------------------------------------------------------- retry without reasoning


@pytest.mark.parametrize("stream", [True, False])
async def test_rejected_reasoning_parameters_are_dropped_once(openrouter_sim, stream):
    openrouter_sim.state.config = SimConfig(reasoning_rejected_models=["openai/gpt-5-mini"])
    pipe = make_pipe(openrouter_sim)
    assert await chat(pipe, model=f"openrouter.{GPT5}", stream=stream) == "You said: hi"
    sent = [e["body"] for e in openrouter_sim.requests_to("/responses")]
    assert len(sent) == 2
    assert "reasoning" in sent[0] and "reasoning" not in sent[1] and "include" not in sent[1]


async def test_without_the_retry_the_rejection_is_shown(openrouter_sim):
    openrouter_sim.state.config = SimConfig(reasoning_rejected_models=["openai/gpt-5-mini"])
    pipe = make_pipe(openrouter_sim, RETRY_WITHOUT_REASONING=False)
    assert "OpenRouter rejected the request" in await chat(pipe, model=f"openrouter.{GPT5}")
    assert len(openrouter_sim.requests_to("/responses")) == 1
