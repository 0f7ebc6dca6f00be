"""Error paths and parsing in simulator.owui_live that need no Open WebUI install."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.owui_live import install, process
from simulator.owui_live.sse import DONE, ChatReply, sse_payloads

RAW = (
    b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{"content":"b"}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]"
)


def test_sse_reply_parses_chunks_and_done():
    reply = ChatReply.from_http(200, "text/event-stream; charset=utf-8", RAW, stream=True)
    assert reply.text == "ab"
    assert reply.ended_with_done
    assert reply.chunks[-1] == DONE
    assert sse_payloads(b": comment\n\nevent: x\ndata: 1\n\n") == ["1"]


def test_json_reply_and_unparseable_body_are_kept():
    body = {"choices": [{"message": {"content": "hi"}}]}
    reply = ChatReply.from_http(200, "application/json", json.dumps(body).encode(), stream=False)
    assert reply.text == "hi"
    broken = ChatReply.from_http(500, "text/plain", b"Internal Server Error", stream=False)
    assert broken.json == "Internal Server Error"
    assert broken.text == ""
    assert not broken.ended_with_done


def test_venv_path_override(monkeypatch, tmp_path):
    monkeypatch.setenv(install.VENV_ENV_VAR, str(tmp_path / "v"))
    assert install.default_venv_path() == tmp_path / "v"


def test_is_installed_requires_marker_of_this_version(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "open-webui").write_text("")
    assert not install.is_installed(tmp_path)
    marker = tmp_path / install.MARKER_NAME
    marker.write_text("not json")
    assert not install.is_installed(tmp_path)
    marker.write_text(json.dumps({"open_webui": "0.0.1"}))
    assert not install.is_installed(tmp_path)
    marker.write_text(json.dumps({"open_webui": install.OWUI_VERSION}))
    assert install.is_installed(tmp_path)
    assert install.ensure_installed(tmp_path).path == tmp_path.resolve()  # reused, no pip


def test_failed_install_step_names_its_log(tmp_path):
    log_path = tmp_path / "install.log"
    with open(log_path, "w") as log, pytest.raises(install.InstallError) as err:
        install._run([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], log)
    assert "(3)" in str(err.value) and str(log_path) in str(err.value)
    assert "boom" in log_path.read_text()


def test_install_main_reports_failure(monkeypatch, capsys):
    def fail(path, quiet):
        raise install.InstallError("pip said no")

    monkeypatch.setattr(install, "ensure_installed", fail)
    assert install.main([]) == 1
    assert "pip said no" in capsys.readouterr().err


def test_server_that_exits_early_gives_start_error_with_log(tmp_path):
    log_path = tmp_path / "server.log"
    log_path.write_text("Traceback: it broke\n")
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])
    proc.wait()
    with pytest.raises(process.StartError) as err:
        process.wait_healthy(proc, f"http://127.0.0.1:{process.free_port()}", log_path, timeout=5)
    assert "exited with 2" in str(err.value) and "it broke" in str(err.value)


def test_server_never_healthy_times_out(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True
    )
    try:
        with pytest.raises(process.StartError, match="not healthy"):
            process.wait_healthy(
                proc, f"http://127.0.0.1:{process.free_port()}", tmp_path / "x.log", timeout=0.6
            )
    finally:
        process.stop(proc, grace=5)
    assert proc.returncode is not None


def test_offline_env_is_clean_and_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("VIRTUAL_ENV", "/project/venv")
    monkeypatch.setenv("PYTHONPATH", "/project")
    env = process.offline_env(Path("/v"), tmp_path, 8089, {"EXTRA": "1"})
    assert "VIRTUAL_ENV" not in env and "PYTHONPATH" not in env
    assert env["OFFLINE_MODE"] == "true" and env["RAG_EMBEDDING_MODEL"] == ""
    assert env["ENABLE_OLLAMA_API"] == env["ENABLE_OPENAI_API"] == "false"
    assert len(env["WEBUI_SECRET_KEY"]) >= 32
    assert env["DATA_DIR"] == str(tmp_path) and env["EXTRA"] == "1"
    assert env["PATH"].startswith("/v/bin:")


def test_cpu_seconds_of_own_process_tree():
    import os

    spent = process.process_tree_cpu_seconds(os.getpid())
    assert spent > 0
    assert process.process_tree_cpu_seconds(2**22 + 7) == 0.0  # no such pid


def test_differential_normalises_and_reports_differences():
    from simulator.owui_live.differential import (
        Observed,
        compare,
        error_text,
        message_from_stored,
        parse_task_json,
        strip_volatile,
    )

    assert strip_volatile({"id": "x", "created": 1, "model": "m"}) == {"model": "m"}
    assert error_text({"content": {"detail": "boom"}}) == "boom"
    assert error_text({"message": "m"}) == "m" and error_text(None) is None
    stored = {
        "content": "hi",
        "statusHistory": [{"description": "s", "done": True}],
        "error": {"content": "bad"},
        "output": [
            {"type": "reasoning", "content": [{"type": "output_text", "text": "think"}]},
            {"type": "function_call", "name": "f", "arguments": '{"a": 1}'},
        ],
    }
    message = message_from_stored(stored)
    assert message["reasoning"] == "think" and message["error"] == "bad"
    assert message["tool_calls"] == [{"name": "f", "arguments": {"a": 1}}]
    assert parse_task_json({"choices": [{"message": {"content": 'x {"title": "T"} y'}}]}) == {
        "title": "T"
    }
    assert parse_task_json({"choices": []}) is None
    same = Observed(api_status=200, api=[1], message={"content": "a"})
    assert compare(same, Observed(api_status=200, api=[1], message={"content": "a"})) == []
    diffs = compare(same, Observed(api_status=200, api=[2], message={"content": "b"}))
    assert [d.split(":")[0] for d in diffs] == ["api", "message.content"]


def test_conversation_without_upstream_refuses_scripted_answers():
    from simulator.owui_live.differential import Conversation

    conv = Conversation(
        "x", Path("p.py"), [], valves={"BASE_URL": "{upstream}"}, upstream=[{"status": 500}]
    )
    assert conv.resolved_valves(None) == {"BASE_URL": ""}
    with pytest.raises(ValueError, match="no upstream"):
        conv.queue_upstream(None)


def test_timing_figures_are_masked_before_comparing():
    from simulator.owui_live.differential import Observed, compare, mask_timings

    status = "0.02 s · 12 in · 12 out · $0.00006 · 1682.7 tok/s"
    assert mask_timings({"d": [status]}) == {
        "d": ["<duration> · 12 in · 12 out · $0.00006 · <rate>"]
    }
    real = Observed(api_events=[{"type": "status", "data": {"description": status}}])
    fake = Observed(
        api_events=[{"type": "status", "data": {"description": status.replace("0.02", "0.05")}}]
    )
    assert compare(real, fake) == []
    fake.api_events[0]["data"]["description"] = status.replace("12 in", "13 in")
    assert compare(real, fake)  # token counts are not timings: still compared


def test_error_ids_and_timestamps_are_masked():
    from simulator.owui_live.differential import mask_timings

    shown = "### ⚠️ Bad request\nError ID: `0123456789abcdef` · 2026-11-24 21:50:01 UTC"
    assert mask_timings(shown) == "### ⚠️ Bad request\nError ID: `<error-id>` · <timestamp>"
    assert mask_timings("id 0123456789abcdef stays") == "id 0123456789abcdef stays"


def _chunk(delta: dict, finish=None, **extra) -> dict:
    return {
        "choices": [{"delta": delta, "finish_reason": finish, "index": 0}],
        "model": "m",
        "object": "chat.completion.chunk",
        **extra,
    }


def test_coalesced_deltas_are_compared_joined_only_when_asked():
    from simulator.owui_live.differential import Conversation, merge_deltas, normalise_chunks

    chunks = [
        _chunk({"reasoning_content": "th"}),
        _chunk({"reasoning_content": "ink"}),
        _chunk({"content": "Hel"}),
        _chunk({"content": "lo"}),
        _chunk({}, "stop", usage={"total_tokens": 3}),
        _chunk({"content": "late"}),
        "[DONE]",
    ]
    merged = merge_deltas(chunks)
    assert merged == [
        _chunk({"reasoning_content": "think"}),
        _chunk({"content": "Hello"}),
        _chunk({}, "stop", usage={"total_tokens": 3}),
        _chunk({"content": "late"}),  # never joined across a finish chunk
        "[DONE]",
    ]
    assert chunks[2] == _chunk({"content": "Hel"})  # the input is left as it was
    conv = Conversation("x", Path("p.py"), [])
    with_ids = [{"id": "a", "created": 1, **c} for c in chunks[:4]]
    assert normalise_chunks(with_ids, conv) == chunks[:4]
    conv.merge_deltas = True
    assert normalise_chunks(with_ids, conv) == merged[:2]


def test_workspace_tools_file_loads_as_host_tools(tmp_path):
    from simulator.owui_live.differential import Conversation, load_tools

    tools = load_tools(Path(__file__).parent / "files" / "weather_tools.py", "weather")
    assert list(tools) == ["get_weather"] and tools["get_weather"]["tool_id"] == "weather"
    assert tools["get_weather"]["callable"](city="Oslo") == "sunny, 21 °C in Oslo"
    conv = Conversation("w", Path("p.py"), [], tools=Path("t.py"))
    assert conv.chat_extra() == {"tool_ids": ["diff_w_tools"]}
    assert Conversation("w", Path("p.py"), []).chat_extra() == {}
    not_tools = tmp_path / "no_tools.py"
    not_tools.write_text("class Pipe:\n    pass\n")
    with pytest.raises(ValueError, match="no `class Tools`"):
        load_tools(not_tools, "x")


# -- UI turns over a connection that drops (simulator/owui_live/instance.py) -----------------


class _Server:
    """Open WebUI's chat endpoints as an httpx mock: the POST's answer is lost (the server may
    or may not have taken the turn), the chat GET answers with what the chat holds."""

    def __init__(self, *, took_turn: bool, lost_polls: int = 0) -> None:
        self.took_turn = took_turn
        self.lost_polls = lost_polls
        self.posts = 0
        self.gets = 0

    def __call__(self, request):
        import httpx

        if request.method == "POST":
            self.posts += 1
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        self.gets += 1
        if self.lost_polls:
            self.lost_polls -= 1
            raise httpx.ReadError("connection reset")
        messages = {"m1": {"id": "m1", "done": True}} if self.took_turn else {}
        return httpx.Response(200, json={"chat": {"history": {"messages": messages}}})


def _owui(tmp_path, server: _Server):
    import httpx

    from simulator.owui_live.instance import OpenWebUI

    owui = OpenWebUI(None, "http://owui.test", tmp_path, tmp_path / "open-webui.log")
    owui.turn_settle_seconds = 0.0
    return owui, httpx.AsyncClient(
        base_url="http://owui.test", transport=httpx.MockTransport(server)
    )


async def test_a_turn_whose_answer_was_lost_is_awaited_when_the_chat_holds_it(tmp_path):
    server = _Server(took_turn=True)
    owui, client = _owui(tmp_path, server)
    async with client:
        accepted = await owui._post_turn(client, {"id": "m1"}, "chat-1", "m1")
    assert accepted == {"chat_id": "chat-1"}
    assert server.posts == 1  # never sent twice: a turn is not idempotent


async def test_a_turn_whose_answer_was_lost_is_not_sent_again_when_the_chat_lacks_it(tmp_path):
    import httpx

    server = _Server(took_turn=False)
    owui, client = _owui(tmp_path, server)
    async with client:
        with pytest.raises(httpx.RemoteProtocolError):
            await owui._post_turn(client, {"id": "m1"}, "chat-1", "m1")
    assert server.posts == 1


async def test_a_new_chat_whose_answer_was_lost_fails_without_a_second_post(tmp_path):
    import httpx

    server = _Server(took_turn=True)
    owui, client = _owui(tmp_path, server)
    async with client:
        with pytest.raises(httpx.RemoteProtocolError):
            await owui._post_turn(client, {"id": "m1"}, None, "m1")  # no chat id to look in
    assert (server.posts, server.gets) == (1, 0)


async def test_a_poll_that_loses_its_connection_is_repeated(tmp_path):
    server = _Server(took_turn=True, lost_polls=2)
    owui, client = _owui(tmp_path, server)
    async with client:
        _chat, message = await owui._wait_stored(client, "chat-1", "m1", time_limit=30.0)
    assert message["done"] and server.gets == 3


def test_serving_workers_counts_the_uvicorn_workers_that_accept(tmp_path):
    import time

    (tmp_path / "tiny.py").write_text(
        "async def app(scope, receive, send):\n"
        "    await send({'type': 'http.response.start', 'status': 204, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b''})\n"
    )
    port = process.free_port()
    args = [sys.executable, "-m", "uvicorn", "tiny:app", "--port", str(port), "--workers", "2",
            "--lifespan", "off", "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(args, cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while process.serving_workers(server.pid, port) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process.serving_workers(server.pid, port) == 2
        assert process.serving_workers(server.pid, process.free_port()) == 0  # nobody listens
    finally:
        process.stop(server)
    assert process.serving_workers(server.pid, port) == 0  # gone


def test_worker_events_are_uvicorns_start_and_death_lines(tmp_path):
    log = tmp_path / "open-webui.log"
    log.write_text(
        "INFO:     Started parent process [10]\n"
        "INFO:     Started server process [11]\n"
        '2026-11-27 | INFO | uvicorn - 127.0.0.1:1 - "GET /health HTTP/1.1" 200\n'
        "INFO:     Child process [11] died\n"
        "INFO:     Started server process [12]\n"
    )
    assert process.worker_events(log) == [
        "INFO:     Started server process [11]",
        "INFO:     Child process [11] died",
        "INFO:     Started server process [12]",
    ]
    assert process.worker_events(tmp_path / "missing.log") == []
