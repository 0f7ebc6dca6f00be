"""The pipe exported as ONE Open WebUI function file, loaded and called by the fake Open WebUI
host exactly as Open WebUI 0.12 would, against the fake OpenRouter over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from simulator.export import build_function_source
from simulator.host.host import FakeHost

FUNCTION_ID = "openrouter_responses"


@pytest.fixture
async def host(openrouter_sim) -> AsyncIterator[FakeHost]:
    h = FakeHost()
    h.add_function(content=build_function_source(), function_id=FUNCTION_ID, name="OpenRouter")
    h.set_valves(
        FUNCTION_ID, {"BASE_URL": openrouter_sim.base_url, "API_KEY": openrouter_sim.api_key}
    )
    yield h
    await h.aclose()  # the function's HTTP session, closed on the loop that opened it


async def test_exported_function_lists_models_and_streams_a_ui_turn(host, openrouter_sim):
    models = {m["id"] for m in await host.models()}
    assert f"{FUNCTION_ID}.openai.gpt-4o" in models
    assert f"{FUNCTION_ID}.openai.gpt-4o-2024-11-20" in models
    openrouter_sim.enqueue(
        {
            "script": {
                "reasoning": "Thinking hard.",
                "text": "The answer is 42.",
                "citations": [{"url": "https://x.example", "title": "X"}],
                "usage": {"input_tokens": 9, "output_tokens": 7, "cost": 0.001},
            }
        }
    )
    transcript = await host.chat(
        [{"role": "user", "content": "answer?"}], model=f"{FUNCTION_ID}.openai.o4-mini", ui=True
    )
    msg = transcript.message
    assert msg.content == "The answer is 42."
    assert msg.reasoning == "Thinking hard."
    assert msg.error is None
    assert msg.sources and msg.sources[0]["source"]["url"] == "https://x.example"
    assert msg.usage.get("prompt_tokens") == 9
    assert any("9 in" in s.get("description", "") for s in msg.status_history)


async def test_exported_function_api_path_and_task(host, openrouter_sim):
    await host.models()
    transcript = await host.chat(
        [{"role": "user", "content": "plain"}],
        model=f"{FUNCTION_ID}.openai.gpt-4o-mini",
        stream=False,
    )
    assert transcript.message.content == "You said: plain"
    task = await host.task(
        "title",
        messages=[{"role": "user", "content": "name this chat"}],
        model=f"{FUNCTION_ID}.openai.gpt-4o-mini",
    )
    assert openrouter_sim.requests_to("/responses")[-1]["body"]["stream"] is False
    assert task.task is not None


async def test_exported_function_shows_errors_readably(host, openrouter_sim):
    await host.models()
    openrouter_sim.enqueue({"status": 402})
    transcript = await host.chat(
        [{"role": "user", "content": "x"}], model=f"{FUNCTION_ID}.openai.gpt-4o-mini", ui=True
    )
    assert "Insufficient OpenRouter credits" in transcript.message.content
