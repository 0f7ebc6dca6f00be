"""The exported production pipe (`orsim export-function`) in the real Open WebUI 0.12.4:
created over REST, activated, BASE_URL on the fake OpenRouter, chatted with through a
manifold model; and the same scripted conversations through the fake host, which must give
the same SSE payloads, socket.io events and final message (ids, timestamps and timings aside).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.owui_live.differential import Conversation, Observed, compare, run_fake, run_real

pytestmark = pytest.mark.openwebui

TEXT = "Blue light scatters more than red light in air."
SCRIPT = {"script": {"seed": "exported", "text": TEXT}}
ASK = [{"role": "user", "content": "why is the sky blue"}]
SUB_MODEL = ".openai.gpt-4o-mini"
WEATHER_TOOLS = Path(__file__).parent / "files" / "weather_tools.py"
UPSTREAM = {"BASE_URL": "{upstream}"}  # API_KEY added per test (the sim's key)

REASONING = {
    "script": {
        "seed": "exported-reasoning",
        "reasoning": "Shorter wavelengths scatter more (Rayleigh).",
        "text": TEXT,
    }
}
CITATIONS = {
    "script": {
        "seed": "exported-citations",
        "text": "The sky is blue because of Rayleigh scattering.",
        "citations": [
            {
                "url": "https://en.wikipedia.org/wiki/Rayleigh_scattering",
                "title": "Rayleigh scattering",
                "content": "Rayleigh scattering is the scattering of light by small particles.",
            },
            {"url": "https://example.org/sky", "title": "Why the sky is blue"},
        ],
    }
}
TOOL_ROUNDS = [
    {
        "script": {
            "seed": "exported-tool-1",
            "function_calls": [
                {"name": "get_weather", "arguments": {"city": "Paris"}, "call_id": "call_w1"}
            ],
        }
    },
    {"script": {"seed": "exported-tool-2", "text": "It is sunny and 21 °C in Paris."}},
]
# Not retryable (a retry would take the next queued answer): the user sees the pipe's message.
BAD_REQUEST = {
    "status": 400,
    "body": {"error": {"code": 400, "message": "max_output_tokens must be at least 16"}},
}
TITLE = {"script": {"seed": "exported-title", "text": '{"title": "☁️ Why the Sky Is Blue"}'}}

CONVERSATIONS = {
    "plain": dict(upstream=[SCRIPT]),
    "nonstream": dict(upstream=[SCRIPT], stream=False),
    "reasoning": dict(upstream=[REASONING]),
    "citations": dict(upstream=[CITATIONS]),
    "tool_loop": dict(upstream=TOOL_ROUNDS, tools=WEATHER_TOOLS),
    "upstream_error": dict(upstream=[BAD_REQUEST]),
    "title_task": dict(upstream=[TITLE], task="title"),
    "user_valves": dict(upstream=[SCRIPT], user_valves={"SHOW_FINAL_USAGE_STATUS": False}),
}


def _conversation(name: str, exported: Path, sim) -> Conversation:
    return Conversation(
        f"exported_{name}",
        exported,
        ASK,
        valves={**UPSTREAM, "API_KEY": sim.api_key},
        model_suffix=SUB_MODEL,
        merge_deltas=True,  # the pipe coalesces by time: chunk boundaries vary run to run
        **CONVERSATIONS[name],
    )


def _statuses(events: list[dict]) -> list[str]:
    return [e["data"]["description"] for e in events if e.get("type") == "status"]


def _content(seen: Observed) -> str:
    """The streamed text of the API path, or the non-streamed message."""
    if isinstance(seen.api, list):
        return "".join(
            (choice.get("delta") or {}).get("content") or ""
            for chunk in seen.api
            if isinstance(chunk, dict)
            for choice in chunk.get("choices") or []
        )
    return seen.api["choices"][0]["message"]["content"]


async def test_exported_pipe_lists_manifold_models_and_chats(owui, owui_function, exported, sim):
    fid = owui_function(exported, valves={"BASE_URL": sim.base_url, "API_KEY": sim.api_key})
    models = [m["id"] for m in owui.models() if m["id"].startswith(fid + ".")]
    assert fid + SUB_MODEL in models
    sim.enqueue(SCRIPT)
    streamed = await owui.chat(fid + SUB_MODEL, ASK, stream=True)
    assert streamed.status == 200 and streamed.ended_with_done
    assert streamed.text == TEXT
    sim.enqueue(SCRIPT)
    plain = await owui.chat(fid + SUB_MODEL, ASK, stream=False)
    assert plain.status == 200 and plain.text == TEXT
    sent = sim.requests_to("/responses")[-1]
    assert sent["body"]["model"] == "openai/gpt-4o-mini"


@pytest.mark.parametrize("name", list(CONVERSATIONS))
async def test_exported_pipe_fake_host_matches_real(owui, exported, sim, name):
    conv = _conversation(name, exported, sim)
    sent_before = len(sim.requests_to("/responses"))
    real = await run_real(owui, conv, sim)
    fake = await run_fake(conv, sim)
    assert real.api_status == 200 and real.api, "the real run observed nothing"
    differences = compare(real, fake)
    assert not differences, f"{name}: fake host differs from Open WebUI 0.12.4:\n" + "\n".join(
        differences
    )
    _check_behaviour(name, real)
    if name == "tool_loop":  # every run (real and fake, API and UI) ran the real tool
        outputs = [
            item["output"]
            for request in sim.requests_to("/responses")[sent_before:]
            for item in request["body"]["input"]
            if item.get("type") == "function_call_output"
        ]
        assert outputs == ["sunny, 21 °C in Paris"] * 4, outputs
        # API path: both rounds offered exactly the workspace tool, on both hosts (compared).
        assert real.upstream_tools == [["get_weather"], ["get_weather"]]


def _check_behaviour(name: str, real: Observed) -> None:
    """Agreement alone could hide a pipe that does nothing: each case shows its feature."""
    events = real.api_events
    if name == "title_task":
        assert real.task == {"title": "☁️ Why the Sky Is Blue"}
        return
    content = _content(real)
    if name == "upstream_error":
        assert "max_output_tokens must be at least 16" in content and "Error ID" in content
        assert real.message is not None and "max_output_tokens" in real.message["content"]
        return
    if name == "tool_loop":
        # The answer, then the (invisible) replay markers of the stored call/output pair.
        answer, _, markers = content.partition("\n\n[or:")
        assert answer == "It is sunny and 21 °C in Paris." and markers.count("]: #") == 2
        assert any("get_weather" in s for s in _statuses(events)), _statuses(events)
    elif name == "citations":
        urls = [e["data"]["source"]["url"] for e in events if e.get("type") == "source"]
        assert urls == [
            "https://en.wikipedia.org/wiki/Rayleigh_scattering",
            "https://example.org/sky",
        ]
        assert real.message is not None and len(real.message["sources"]) == 2
    elif name == "reasoning":
        assert content == TEXT
        assert real.message is not None
        assert real.message["reasoning"] == "Shorter wavelengths scatter more (Rayleigh)."
    else:
        assert content == TEXT
    final = [s for s in _statuses(events) if " in · " in s or " out" in s]
    if name == "user_valves":
        assert final == [], "SHOW_FINAL_USAGE_STATUS=false (user valve) still showed usage"
    else:
        assert final, f"no final usage status in {_statuses(events)}"
