"""How the pipe is called: body, reserved arguments, valves (see docs/host.md)."""

from __future__ import annotations

import json

import pytest

from simulator.host.call import HostUser

ASK = [{"role": "user", "content": "hello"}]


async def report(host, **kwargs):
    t = await host.chat(ASK, stream=False, **kwargs)
    assert t.status_code == 200, t.text
    return json.loads(t.message.content), t


async def test_api_call_passes_exactly_the_named_reserved_arguments(make_host):
    seen, _ = await report(make_host("reserved_args_pipe"))
    # Not injected by 0.12.4: __model__, __messages__, __id__. None-valued ones are not listed.
    assert seen["passed"] == [
        "__chat_id__",
        "__event_call__",
        "__event_emitter__",
        "__files__",
        "__metadata__",
        "__request__",
        "__tools__",
        "__user__",
    ]
    assert seen["ids"] == ["", None, None]  # chat_id "" for a pure API call
    assert seen["task"] == [None, None]
    assert seen["files"] == []
    assert seen["tools"] == {}
    assert seen["request_has_app_state"] is True
    # Without a session the caller answers like a disconnected browser.
    assert seen["event_call"] == {"error": "Client session disconnected."}


async def test_only_body_for_a_pipe_that_names_nothing_else(make_host):
    t = await make_host("minimal_pipe").chat(ASK, stream=False)
    assert t.message.content == "minimal:hello"


async def test_user_dict_shape_and_user_valves_instance(make_host):
    host = make_host("reserved_args_pipe", function_id="ra")
    user = HostUser(id="u7", email="u7@example.com", name="Seven", role="admin")
    seen, _ = await report(host, user=user, user_valves={"NICK": "bob"})
    assert {"id", "email", "name", "role", "username", "settings", "info", "oauth"} <= set(
        seen["user_keys"]
    )
    assert "variables" not in seen["user_keys"]
    assert seen["user_valves_type"] == "UserValves"
    assert seen["user_valves"] == {"NICK": "bob", "LEVEL": 1}
    # Stored per user: another user gets defaults.
    seen, _ = await report(host, user=HostUser(id="other"))
    assert seen["user_valves"] == {"NICK": "anon", "LEVEL": 1}


async def test_invalid_stored_user_valves_fall_back_to_defaults(make_host):
    host = make_host("reserved_args_pipe", function_id="ra")
    host.function("ra").user_valves["user-1"] = {"LEVEL": "not a number"}
    seen, _ = await report(host)
    assert seen["user_valves"] == {"NICK": "anon", "LEVEL": 1}


async def test_valves_are_reassigned_before_every_call(make_host):
    host = make_host("reserved_args_pipe", function_id="ra", valves={"LABEL": "stored"})
    fn = host.function("ra")
    seen, _ = await report(host)
    assert seen["valves"] == {"LABEL": "stored"}
    fn.instance.valves = fn.instance.Valves(LABEL="mutated in memory")
    seen, _ = await report(host)
    assert seen["valves"] == {"LABEL": "stored"}
    fn.valves = {"LABEL": None}  # stored None values are dropped: the default applies
    seen, _ = await report(host)
    assert seen["valves"] == {"LABEL": "default"}


def test_valve_updates_are_validated(make_host):
    host = make_host("reserved_args_pipe", function_id="ra")
    with pytest.raises(ValueError):
        host.set_valves("ra", {"LABEL": ["not", "a", "string"]})
    with pytest.raises(Exception, match="no Valves"):
        make_host("minimal_pipe", function_id="mini").set_valves("mini", {"X": 1})


async def test_body_never_carries_metadata_or_ui_only_keys(make_host):
    host = make_host("reserved_args_pipe")
    seen, _ = await report(
        host,
        features={"web_search": True},
        files=[{"type": "file", "id": "f1", "name": "a.txt"}],
        params={
            "temperature": 0.3,
            "stream_response": False,
            "function_calling": "native",
            "reasoning_tags": False,
            "system": "x",
            "max_tokens": 50,
        },
        extra_body={
            "background_tasks": {"title_generation": True},
            "parent_id": None,
            "tool_ids": ["t"],
            "variables": {"{{USER_NAME}}": "x"},
        },
    )
    body = seen["body"]
    assert body == {
        "model": "reserved_args_pipe",
        "messages": ASK,
        "stream": False,
        "temperature": 0.3,
        "max_tokens": 50,
    }
    assert seen["metadata"]["features"] == {"web_search": True}
    assert seen["files"] == [{"type": "file", "id": "f1", "name": "a.txt"}]
    assert seen["metadata"]["tool_ids"] == ["t"]
    assert seen["metadata"]["params"]["reasoning_tags"] is False


async def test_stream_response_param_overrides_stream(make_host):
    t = await make_host("echo_pipe").chat(ASK, stream=True, params={"stream_response": False})
    assert t.stream is False and t.response["object"] == "chat.completion"
    assert "stream=False" in t.message.content


async def test_manifold_body_keeps_the_full_dotted_model_id(make_host):
    t = await make_host("manifold_pipe", function_id="mf").chat(ASK, model="mf.beta.v2")
    assert t.message.content == "manifold got model=mf.beta.v2"
    assert t.body["model"] == "mf.beta.v2"


async def test_workspace_model_maps_to_the_base_id_with_params_and_system_prompt(make_host):
    host = make_host(
        "reserved_args_pipe",
        function_id="ra",
        workspace_models={
            "my-assistant": {
                "base_model_id": "ra",
                "params": {"system": "Be brief.", "temperature": 0.1},
            }
        },
    )
    await host.models()
    seen, _ = await report(host, model="my-assistant")
    assert seen["body"]["model"] == "ra"
    assert seen["body"]["temperature"] == 0.1
    assert seen["body"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert seen["metadata_model_id"] == "my-assistant"


async def test_metadata_keys_of_an_api_call(make_host):
    seen, t = await report(make_host("reserved_args_pipe"))
    meta = seen["metadata"]
    for key in (
        "user_id",
        "chat_id",
        "message_id",
        "session_id",
        "features",
        "files",
        "tool_ids",
        "variables",
        "params",
        "direct",
        "filter_ids",
        "user_agent",
    ):
        assert key in meta, key
    assert meta["user_id"] == "user-1"
    assert meta["params"]["function_calling"] == "native"
    assert t.metadata["model"]["id"] == "reserved_args_pipe"


async def test_ui_call_sets_ids_and_a_live_event_call(make_host):
    seen, t = await report(
        make_host("reserved_args_pipe"),
        ui=True,
        event_call_answers=[True],
        chat_id="c1",
        message_id="m1",
        session_id="s1",
    )
    assert seen["ids"] == ["c1", "s1", "m1"]
    assert seen["event_call"] is True
    assert t.event_calls[0].event["type"] == "confirmation"


async def test_no_emitter_unless_all_three_id_keys_exist(make_host):
    host = make_host("reserved_args_pipe")
    prepared = await host.prepare({"model": "reserved_args_pipe", "messages": ASK}, metadata={})
    assert prepared.arguments["__event_emitter__"] is not None
    task = await host.prepare_task(
        {"model": "reserved_args_pipe", "messages": ASK, "stream": False},
        {"task": "title_generation", "task_body": {}, "chat_id": "c"},
        None,
    )
    assert "__event_emitter__" not in task.arguments or task.arguments["__event_emitter__"] is None


async def test_a_dunder_without_default_that_is_not_supplied_is_a_type_error(make_host):
    # __user__ is supplied; __model__ is never injected by 0.12.4, so the call raises.
    t = await make_host("missing_default").chat(ASK, stream=False)
    assert "missing 1 required positional argument: '__model__'" in t.message.error
    assert t.response == {"error": {"detail": t.message.error}}
    streamed = await make_host("missing_default").chat(ASK, stream=True)
    assert streamed.chunks == [{"error": {"detail": t.message.error}}]


async def test_sync_pipe_is_called_directly(make_host):
    t = await make_host("async_manifold", function_id="am").chat(ASK, model="am.two")
    assert t.message.content == "sync pipe answered for am.two"


async def test_oauth_token_is_passed_when_named(make_host):
    host = make_host("reserved_args_pipe")
    user = HostUser(oauth_token={"access_token": "tok"})
    seen, _ = await report(host, user=user)
    assert "__oauth_token__" in seen["passed"]
