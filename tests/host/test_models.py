"""Model listing: single pipes, manifolds, names and valves."""

from __future__ import annotations

import pytest

from simulator.host.host import FakeHost, ModelNotFoundError


async def test_single_pipe_lists_one_model_named_like_the_function(make_host):
    host = make_host("echo_pipe", function_id="echo", name="Echo Pipe")
    [model] = await host.models()
    assert model["id"] == "echo"
    assert model["name"] == "Echo Pipe"
    assert model["object"] == "model"
    assert model["owned_by"] == "openai"
    assert model["pipe"] == {"type": "pipe"}
    assert model["has_user_valves"] is False
    assert isinstance(model["created"], int)
    assert list(model) == [
        "id",
        "name",
        "object",
        "created",
        "owned_by",
        "pipe",
        "has_user_valves",
        "actions",
        "filters",
        "tags",
    ]
    assert model["actions"] == model["filters"] == model["tags"] == []


async def test_default_name_is_the_frontmatter_title(make_host):
    [model] = await make_host("echo_pipe").models()
    assert model["name"] == "Echo Test Pipe"


async def test_manifold_ids_and_names(make_host):
    host = make_host("manifold_pipe", function_id="mf")
    models = await host.models()
    assert [m["id"] for m in models] == ["mf.alpha", "mf.beta.v2"]
    # self.name is prepended verbatim, with no separator.
    assert [m["name"] for m in models] == ["mf/Alpha", "mf/Beta"]


async def test_async_pipes_method_and_plain_list(make_host, host_pipe):
    host = make_host("async_manifold", function_id="am")
    host.add_function(host_pipe("list_manifold"), function_id="lm")
    models = {m["id"]: m["name"] for m in await host.models()}
    assert models == {"am.one": "One", "am.two": "Two", "lm.x": "List: X"}


async def test_valves_are_reapplied_before_every_listing(make_host):
    host = make_host("manifold_pipe", function_id="mf")
    fn = host.function("mf")
    fn.instance.valves = fn.instance.Valves(EXTRA_MODEL="ignored")  # in-memory edits are reset
    assert len(await host.models()) == 2
    host.set_valves("mf", {"EXTRA_MODEL": "gamma"})
    ids = [m["id"] for m in await host.models()]
    assert ids == ["mf.alpha", "mf.beta.v2", "mf.gamma"]


async def test_a_raising_pipes_lists_nothing_and_a_missing_key_skips_the_function(
    make_host, host_pipe
):
    host = make_host("broken_manifolds", function_id="broken")
    host.add_function(host_pipe("echo_pipe"), function_id="echo")
    assert [m["id"] for m in await host.models()] == ["echo"]
    host.function("broken").instance.mode = "missing id"
    assert [m["id"] for m in await host.models()] == ["echo"]


async def test_has_user_valves_flag(make_host):
    [model] = await make_host("reserved_args_pipe").models()
    assert model["has_user_valves"] is True


async def test_chat_needs_a_listed_model_and_the_cache_is_rebuilt_only_when_empty(make_host):
    host = make_host("manifold_pipe", function_id="mf")
    with pytest.raises(ModelNotFoundError, match="Model not found"):
        await host.chat([{"role": "user", "content": "x"}], model="mf.nope")
    host.set_valves("mf", {"EXTRA_MODEL": "late"})
    # The cache was filled by the first call: the new sub-model is unknown until a refresh.
    with pytest.raises(ModelNotFoundError):
        await host.chat([{"role": "user", "content": "x"}], model="mf.late")
    await host.models()
    t = await host.chat([{"role": "user", "content": "x"}], model="mf.late")
    assert t.message.content == "manifold got model=mf.late"


async def test_model_none_picks_the_only_model_and_refuses_ambiguity(make_host):
    t = await make_host("minimal_pipe").chat([{"role": "user", "content": "x"}])
    assert t.message.content == "minimal:x"
    with pytest.raises(ModelNotFoundError, match="ambiguous"):
        await make_host("manifold_pipe").chat([{"role": "user", "content": "x"}])


async def test_unknown_function_is_an_error():
    with pytest.raises(ModelNotFoundError):
        FakeHost().function("nope")
