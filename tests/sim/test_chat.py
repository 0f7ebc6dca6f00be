"""The fake's `/chat/completions` (OpenRouter's chat format, read by the real `openai` SDK) and
the refusals it stages for the pipe's fallbacks."""

from __future__ import annotations

import openai
import pytest

from simulator.openrouter.state import SimConfig


@pytest.fixture
def client(strict_client):
    return strict_client


def test_chat_completion_echoes_with_usage(client):
    reply = client.chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}]
    )
    assert reply.choices[0].message.content == "You said: hello there"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0


def test_streamed_chat_has_reasoning_tool_calls_and_a_usage_chunk(client, openrouter_sim):
    call = {"name": "get_weather", "arguments": {"city": "Paris"}, "call_id": "call_1"}
    openrouter_sim.enqueue(
        {"script": {"reasoning": "Think first.", "text": "Checking.", "function_calls": [call]}}
    )
    chunks = list(
        client.chat.completions.create(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": "weather?"}],
            stream=True,
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == "Checking."
    assert "".join(getattr(d, "reasoning", None) or "" for d in deltas) == "Think first."
    calls = [t for d in deltas for t in d.tool_calls or []]
    assert calls[0].id == "call_1" and calls[0].function.name == "get_weather"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage is not None and chunks[-1].choices == []


def test_responses_refused_for_a_staged_model(client, openrouter_sim):
    openrouter_sim.state.config = SimConfig(responses_refused_models=["openai/gpt-4o-mini"])
    with pytest.raises(openai.BadRequestError, match="not supported on the Responses API"):
        client.responses.create(model="openai/gpt-4o-mini", input="hi")
    assert client.responses.create(model="openai/gpt-4o", input="hi").output_text


def test_reasoning_rejected_for_a_staged_model(client, openrouter_sim):
    openrouter_sim.state.config = SimConfig(reasoning_rejected_models=["openai/gpt-5-mini"])
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="openai/gpt-5-mini", input="hi", reasoning={"effort": "low"})
    assert "include_thoughts" in str(caught.value.body)
    assert client.responses.create(model="openai/gpt-5-mini", input="hi").output_text
