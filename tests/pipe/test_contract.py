"""The Open WebUI contract: class layout, valves, pipes(), pipe() signature and dispatch."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pipe as pipe_pkg
from pipe import Pipe
from tests.pipe.helpers import (  # noqa: F401
    Recorder,
    chat_body,
    make_pipe,
    metadata,
    run_pipe,
    user,
)

# Under --pipe-impl=exported, the Pipe class lives in the exported file's source.
PIPE_SOURCE = (
    getattr(pipe_pkg, "__orsim_exported_source__", None)
    or (Path(pipe_pkg.__path__[0]) / "controller.py").read_text()
)


def test_valves_are_nested_literally_in_the_pipe_class():
    tree = ast.parse(PIPE_SOURCE)
    pipe_class = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Pipe")
    nested = {n.name for n in pipe_class.body if isinstance(n, ast.ClassDef)}
    assert {"Valves", "UserValves"} <= nested


def test_pipe_signature_has_body_first_and_defaults_for_every_dunder():
    sig = inspect.signature(Pipe.pipe)
    params = list(sig.parameters.values())
    assert params[1].name == "body"
    for p in params[2:]:
        assert p.name.startswith("__") and p.default is None, p.name
    for name in (
        "__user__",
        "__request__",
        "__metadata__",
        "__event_emitter__",
        "__event_call__",
        "__task__",
        "__task_body__",
        "__files__",
        "__tools__",
    ):
        assert name in sig.parameters
    assert inspect.iscoroutinefunction(Pipe.pipe)


def test_pipe_instantiates_without_arguments_and_has_defaults(monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_BASE_URL", raising=False)
    p = Pipe()
    assert p.valves.BASE_URL == "https://openrouter.ai/api/v1"
    assert p.valves.MODEL_ID == "auto"
    assert p.valves.API_KEY == ""
    assert Pipe.UserValves().REASONING_EFFORT is None


def test_base_url_default_comes_from_env(monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_BASE_URL", "http://proxy.local/api/v1")
    assert Pipe.Valves().BASE_URL == "http://proxy.local/api/v1"


async def test_pipes_lists_catalog_as_sub_ids(openrouter_sim):
    p = make_pipe(openrouter_sim)
    models = await p.pipes()
    ids = {m["id"] for m in models}
    assert "openai.gpt-4o" in ids and "openai.gpt-4o-2024-11-20" in ids
    assert all(set(m) == {"id", "name"} for m in models)
    assert p.name.endswith(": ")


async def test_pipes_applies_allowlist_and_filters(openrouter_sim):
    p = make_pipe(openrouter_sim, MODEL_ID="openai/gpt-4o, anthropic.claude-sonnet-4")
    assert {m["id"] for m in await p.pipes()} == {"openai.gpt-4o", "anthropic.claude-sonnet-4"}
    p = make_pipe(openrouter_sim, FREE_MODEL_FILTER="only")
    free = {m["id"] for m in await p.pipes()}
    # Free = every price the catalog lists for prompt and completion is zero.
    catalog = openrouter_sim.app.state.catalog.models
    expected = {
        m["id"].replace("/", ".", 1)
        for m in catalog
        if all(float(m["pricing"][k]) == 0 for k in ("prompt", "completion"))
    }
    assert expected and len(expected) < len(catalog)
    assert free == expected
    p = make_pipe(openrouter_sim, TOOL_CALLING_FILTER="exclude")
    no_tools = {m["id"] for m in await p.pipes()}
    assert "openai.gpt-4o" not in no_tools and "perplexity.sonar" in no_tools


async def test_pipes_returns_empty_list_when_catalog_unreachable(closed_url):
    p = Pipe()
    p.valves = Pipe.Valves(
        BASE_URL=f"{closed_url}/api/v1", API_KEY="sk-or-x", CONNECT_TIMEOUT_SECONDS=1
    )
    assert await p.pipes() == []


async def test_streaming_pipe_returns_async_generator_of_text(openrouter_sim):
    p = make_pipe(openrouter_sim)
    result = await p.pipe(body=chat_body("ping"), __user__=user(), __metadata__=metadata())
    assert inspect.isasyncgen(result)
    chunks = [c async for c in result]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "You said: ping"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


async def test_non_streaming_pipe_returns_final_text(openrouter_sim):
    p = make_pipe(openrouter_sim)
    result = await p.pipe(
        body=chat_body("pong", stream=False), __user__=user(), __metadata__=metadata()
    )
    assert result == "You said: pong"
    sent = openrouter_sim.requests_to("/responses")[-1]["body"]
    assert sent.get("stream") is False


async def test_function_id_comes_from_body_model_not_module_name(openrouter_sim):
    p = make_pipe(openrouter_sim)
    out = await run_pipe(
        p,
        chat_body("x", model="openai.gpt-4o-2024-11-20")
        | {"model": "function_abc_123.openai.gpt-4o-2024-11-20"},
    )
    assert out.text == "You said: x"
    assert (
        openrouter_sim.requests_to("/responses")[-1]["body"]["model"] == "openai/gpt-4o-2024-11-20"
    )


async def test_model_from_metadata_when_body_model_has_no_sub_id(openrouter_sim):
    p = make_pipe(openrouter_sim)
    body = chat_body("y") | {"model": "openrouter"}
    out = await run_pipe(p, body, __metadata__=metadata(model={"id": "openrouter.openai.gpt-4o"}))
    assert out.text == "You said: y"
    assert openrouter_sim.requests_to("/responses")[-1]["body"]["model"] == "openai/gpt-4o"


async def test_user_valves_override_only_what_user_set(openrouter_sim):
    p = make_pipe(openrouter_sim, REASONING_EFFORT="high", REASONING_SUMMARY_MODE="detailed")
    await run_pipe(p, chat_body("a", model="openai.o4-mini"), __user__=user(REASONING_EFFORT="low"))
    sent = openrouter_sim.requests_to("/responses")[-1]["body"]
    assert sent["reasoning"] == {"effort": "low", "summary": "detailed"}
    await run_pipe(p, chat_body("b", model="openai.o4-mini"), __user__=user())
    assert openrouter_sim.requests_to("/responses")[-1]["body"]["reasoning"]["effort"] == "high"


def test_merge_valves_rules():
    from pipe.settings import merge_valves

    allowed = Pipe.UserValves.model_fields
    system = Pipe.Valves(
        REASONING_EFFORT="high", SHOW_FINAL_USAGE_STATUS=False, API_KEY="sk-or-admin"
    )
    assert merge_valves(system, Pipe.UserValves(), allowed) is system
    none_set = merge_valves(system, Pipe.UserValves(REASONING_EFFORT=None), allowed)
    assert none_set.REASONING_EFFORT == "high"
    merged = merge_valves(system, Pipe.UserValves(REASONING_EFFORT="low"), allowed)
    assert merged.REASONING_EFFORT == "low" and merged.SHOW_FINAL_USAGE_STATUS is False
    assert merge_valves(system, {"REASONING_EFFORT": "Inherit"}, allowed).REASONING_EFFORT == "high"
    shown = merge_valves(system, {"SHOW_FINAL_USAGE_STATUS": True}, allowed)
    assert shown.SHOW_FINAL_USAGE_STATUS is True and shown.API_KEY == "sk-or-admin"
    assert merge_valves(system, {"REASONING_EFFORT": "bogus"}, allowed) is system  # invalid
    # a user can never reach system-only valves, even through a plain dict
    hijack = merge_valves(system, {"API_KEY": "x", "BASE_URL": "http://evil.test"}, allowed)
    assert hijack.API_KEY == "sk-or-admin" and hijack.BASE_URL == system.BASE_URL
    assert merge_valves(system, None, allowed) is system


def test_every_valve_is_documented_with_its_default():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    for name, field in Pipe.Valves.model_fields.items():
        assert f"| `{name}` |" in doc, f"{name} missing from docs/configuration.md"
        assert field.description, f"{name} has no description"
    for name in Pipe.UserValves.model_fields:
        if name in Pipe.Valves.model_fields:  # overrides the system valve of the same name
            assert f"| `{name}` | `{name}` |" in doc, f"user valve {name} missing"
        else:  # a choice narrowed by the administrator's limits (docs/multimodal.md)
            assert f"| `{name}` | narrows " in doc, f"user valve {name} missing"
    assert f"{len(Pipe.Valves.model_fields)} system valves" in doc
    assert f"{len(Pipe.UserValves.model_fields)} user valves" in doc
