"""The real Open WebUI 0.12.4 hosting small test pipes: REST setup, chats, errors, events."""

from __future__ import annotations

import asyncio

import pytest

from simulator.owui_live.instance import RestError
from simulator.owui_live.sse import DONE
from tests.openwebui.conftest import PIPES

pytestmark = pytest.mark.openwebui

HI = [{"role": "user", "content": "hello pipe"}]


async def test_server_is_healthy_and_admin_signed_in(owui):
    assert owui.user["role"] == "admin"
    assert owui.token
    assert owui.cpu_seconds() > 0


async def test_function_is_listed_and_streams_openai_chunks(owui, owui_function):
    model = owui_function("plain_pipe.py")
    assert model in [m["id"] for m in owui.models()]
    reply = await owui.chat(model, HI, stream=True)
    assert reply.status == 200
    assert reply.content_type.startswith("text/event-stream")
    assert reply.raw.endswith(b"data: [DONE]")  # no trailing blank line
    *chunks, finish, done = reply.chunks
    assert done == DONE
    assert finish["choices"][0] == {
        "index": 0,
        "logprobs": None,
        "finish_reason": "stop",
        "delta": {},
    }
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == [
        "echo: ",
        "hello ",
        "pipe ",
        f"(model={model}, stream=True)",
    ]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == len(chunks)  # a new id per chunk


async def test_non_streaming_chat_joins_chunks(owui, owui_function):
    model = owui_function("plain_pipe.py")
    reply = await owui.chat(model, HI, stream=False)
    assert reply.status == 200
    assert reply.json["object"] == "chat.completion"
    assert reply.text == f"echo: hello pipe (model={model}, stream=False)"


async def test_valves_are_applied_and_update_in_place_keeps_them(owui, owui_function, tmp_path):
    model = owui_function("plain_pipe.py", valves={"PREFIX": "via-valve"})
    assert (await owui.chat(model, HI, stream=False)).text.startswith("via-valve: ")
    changed = tmp_path / "plain_v2.py"
    changed.write_text(
        (PIPES / "plain_pipe.py").read_text().replace("yield word + ", "yield word.upper() + ")
    )
    owui.update_function(model, changed)
    assert (await owui.chat(model, HI, stream=False)).text.startswith("via-valve: HELLO PIPE ")


async def test_user_valves_override_admin_valves(owui, owui_function):
    plain = owui_function("user_valves_pipe.py", valves={"NICKNAME": "admin-nick"})
    assert (await owui.chat(plain, HI)).text == "Hello, admin-nick! (user valves: UserValves)"
    override = owui_function("user_valves_pipe.py", user_valves={"NICKNAME": "bob"})
    assert (await owui.chat(override, HI)).text == "Hello, bob! (user valves: UserValves)"


async def test_manifold_models_and_full_ids(owui, owui_function):
    fid = owui_function("manifold_pipe.py")
    models = {m["id"]: m["name"] for m in owui.models() if m["id"].startswith(fid + ".")}
    assert models == {f"{fid}.alpha": "mf/Alpha", f"{fid}.beta.v2": "mf/Beta"}
    for stream in (True, False):
        reply = await owui.chat(f"{fid}.beta.v2", HI, stream=stream)
        assert reply.text == f"manifold got model={fid}.beta.v2"


async def test_error_before_output(owui, owui_function):
    model = owui_function("error_pipe.py", valves={"MODE": "before"})
    streamed = await owui.chat(model, HI, stream=True)
    assert streamed.status == 200
    assert streamed.chunks == [{"error": {"detail": "upstream exploded"}}]  # and no [DONE]
    plain = await owui.chat(model, HI, stream=False)
    assert (plain.status, plain.json) == (200, {"error": {"detail": "upstream exploded"}})


async def test_error_mid_stream(owui, owui_function):
    model = owui_function("error_pipe.py", valves={"MODE": "mid"})
    streamed = await owui.chat(model, HI, stream=True)
    assert streamed.text == "partial answer "
    assert streamed.chunks[-2:] == [{"error": {"message": "Chat completion stream failed"}}, DONE]
    plain = await owui.chat(model, HI, stream=False)
    assert (plain.status, plain.json) == (400, {"detail": "mid-stream failure"})


async def test_returned_dict_passes_through(owui, owui_function):
    model = owui_function("dict_pipe.py")
    streamed = await owui.chat(model, HI, stream=True)
    assert len(streamed.chunks) == 1 and not streamed.ended_with_done
    assert streamed.chunks[0]["choices"][0]["message"]["content"] == "dict reply to: hello pipe"
    plain = await owui.chat(model, HI, stream=False)
    assert plain.json["id"] == "dict-pipe-1"


async def test_bad_function_files_are_refused(owui, tmp_path):
    with pytest.raises(RestError) as broken:
        owui.create_function(PIPES / "broken_pipe.py", id="broken_pipe_x")
    assert broken.value.status == 400
    no_class = tmp_path / "no_class.py"
    no_class.write_text('"""\ntitle: nothing\n"""\nX = 1\n')
    with pytest.raises(RestError) as missing:
        owui.create_function(no_class, id="no_class_x")
    assert missing.value.status == 400
    with pytest.raises(RestError) as bad_id:
        owui.create_function(PIPES / "plain_pipe.py", id="bad-id")
    assert "alphanumeric" in bad_id.value.body


async def test_unknown_model_is_a_clear_400(owui):
    reply = await owui.chat("no_such_pipe", HI, stream=False)
    assert reply.status == 400
    assert reply.json == {"detail": "Model not found"}


async def test_api_chat_events_arrive_over_socket(owui, owui_function):
    model = owui_function("events_pipe.py")
    async with owui.events() as capture:
        reply = await owui.chat(model, HI, stream=True)
        assert reply.text == "The sky is blue [1]."
        await capture.wait_for(
            lambda e: (
                e["data"] == {"type": "status", "data": {"description": "done", "done": True}}
            ),
            10,
        )
    assert [(e["chat_id"], e["message_id"], e["data"]["type"]) for e in capture.events] == [
        ("", None, "status"),
        ("", None, "citation"),
        ("", None, "status"),
    ]


async def test_ui_chat_is_stored_with_status_history_and_sources(owui, owui_function):
    model = owui_function("events_pipe.py")
    async with owui.events() as capture:
        ui = await owui.ui_chat(capture, model, HI)
    assert ui.accepted["status"] is True
    assert ui.message["content"] == "The sky is blue [1]."
    assert ui.message["statusHistory"] == [
        {"description": "searching", "done": False},
        {"description": "done", "done": True},
    ]
    assert ui.message["sources"][0]["source"]["name"] == "Example doc"
    kinds = [e["data"]["type"] for e in ui.events]
    assert kinds[0] == "chat:active" and kinds[-1] == "chat:active"
    assert "response:completion" in kinds


async def test_title_task_endpoint(owui, owui_function):
    model = owui_function("task_pipe.py")
    status, body = await owui.task("title", model, [{"role": "user", "content": "weather"}])
    assert status == 200
    assert body["choices"][0]["message"]["content"] == '{"title": "About weather"}'


async def test_concurrent_chats_are_independent(owui, owui_function):
    model = owui_function("plain_pipe.py")
    replies = await asyncio.gather(
        *(owui.chat(model, [{"role": "user", "content": f"n{i}"}]) for i in range(5))
    )
    assert [r.text for r in replies] == [
        f"echo: n{i} (model={model}, stream=True)" for i in range(5)
    ]
