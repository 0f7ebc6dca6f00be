"""OpenRouter request features on a translated request: routing limits, fallback gating,
cache breakpoints and reasoning budgets (the scenarios cover them end to end)."""

from __future__ import annotations

import json

from pipe.controller import Pipe
from pipe.features import FeatureSettings, apply_features
from pipe.model_info import CatalogSnapshot
from pipe.routing import Routing, fallback_models
from pipe.wire import InputMessage, InputText, ReasoningConfig, ResponsesRequest
from simulator.openrouter.catalog import FIXTURE

SNAPSHOT = CatalogSnapshot.from_payload(json.loads(FIXTURE.read_text()))


def test_a_user_cannot_loosen_the_administrators_limits():
    admin = Routing(only=("OpenAI", "Azure"), ignore=("DeepInfra",), zdr=True, max_prompt=5.0)
    mine = admin.narrowed_by(
        {
            "PREFERRED_PROVIDERS": "Together, azure, OpenAI",
            "EXCLUDED_PROVIDERS": "Groq",
            "REQUIRE_ZERO_DATA_RETENTION": False,
            "MAX_PROMPT_PRICE": 50,
        }
    )
    wire = mine.to_wire()
    assert wire is not None
    assert wire["order"] == ["azure", "OpenAI"]  # Together is outside `only`
    assert wire["only"] == ["OpenAI", "Azure"] and wire["ignore"] == ["DeepInfra", "Groq"]
    assert wire["zdr"] is True and wire["max_price"] == {"prompt": 5.0}


def test_no_provider_object_when_nothing_is_set():
    assert Routing().to_wire() is None


def test_fallbacks_must_be_known_and_able_to_serve_the_request():
    models, notes = fallback_models(
        "openai/gpt-4o",
        [
            "openai/gpt-4o",
            "nope/nope",
            "meta-llama/llama-3.3-70b-instruct",
            "anthropic/claude-sonnet-4",
        ],
        SNAPSHOT,
        needs=("vision",),
    )
    assert models == ["openai/gpt-4o", "anthropic/claude-sonnet-4"]
    assert any("nope/nope is not in the catalog" in n for n in notes)
    assert any("llama-3.3-70b-instruct skipped (no vision)" in n for n in notes)


def _request(model: str, **extra) -> ResponsesRequest:
    def msg(role: str, text: str) -> InputMessage:
        return InputMessage(role=role, content=[InputText(text=text)])

    items = [msg("system", "sys")] + [msg("user", f"u{n}") for n in range(5)]
    return ResponsesRequest(model=model, input=items, **extra)


def test_cache_breakpoints_are_at_most_four_and_on_the_right_messages():
    model = SNAPSHOT.resolve("anthropic/claude-sonnet-4")
    applied = apply_features(
        _request("anthropic/claude-sonnet-4"),
        model,
        SNAPSHOT,
        FeatureSettings(),
        web_toggled=False,
        task=False,
    )
    marked = [
        (item.role, item.content[0].text)
        for item in applied.request.input
        if isinstance(item, InputMessage)
        and isinstance(item.content, list)
        and item.content[0].cache_control is not None
    ]
    assert marked == [("system", "sys"), ("user", "u3"), ("user", "u4")]


def test_reasoning_budget_replaces_the_effort_and_leaves_room_for_the_answer():
    model = SNAPSHOT.resolve("anthropic/claude-sonnet-4")
    request = _request(
        "anthropic/claude-sonnet-4",
        reasoning=ReasoningConfig(effort="high"),
        max_output_tokens=6000,
    )
    settings = FeatureSettings(prompt_cache=False)
    applied = apply_features(request, model, SNAPSHOT, settings, web_toggled=False, task=False)
    assert applied.request.reasoning == ReasoningConfig(max_tokens=3000, enabled=True)


def test_effort_models_keep_their_effort():
    model = SNAPSHOT.resolve("openai/o4-mini")
    request = _request("openai/o4-mini", reasoning=ReasoningConfig(effort="high"))
    applied = apply_features(
        request, model, SNAPSHOT, FeatureSettings(), web_toggled=False, task=False
    )
    assert applied.request.reasoning == ReasoningConfig(effort="high")


def test_valve_schema_lists_the_connection_first():
    names = list(Pipe.Valves.model_json_schema()["properties"])
    assert names[:2] == ["BASE_URL", "API_KEY"]
    assert names.index("IMAGE_MAX_PER_REQUEST") > names.index("STRICT_TOOL_SCHEMAS")
