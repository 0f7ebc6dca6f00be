"""Return values to SSE bytes and JSON as Open WebUI 0.12.4 sends them."""

from __future__ import annotations

import json
import re

import pytest

from simulator.host.output import process_line
from simulator.host.templates import chat_chunk_template, chat_completion_template

ID = re.compile(r'"id":"returns_pipe-[0-9a-f-]{36}","created":\d+')


def normalise(raw: bytes) -> str:
    return ID.sub('"id":"ID","created":0', raw.decode())


def chunk(content: str | None = None, finish=None) -> str:
    delta = {"content": content} if content else {}
    body = {
        "id": "ID",
        "created": 0,
        "model": "returns_pipe",
        "choices": [{"index": 0, "logprobs": None, "finish_reason": finish, "delta": delta}],
        "object": "chat.completion.chunk",
    }
    return "data: " + json.dumps(body, separators=(",", ":")) + "\n\n"


STOP = chunk(None, "stop")
DONE = "data: [DONE]"


@pytest.fixture
def host(make_host):
    return make_host("returns_pipe")


async def run(host, mode, stream=True):
    return await host.chat([{"role": "user", "content": mode}], stream=stream)


async def test_str_is_one_chunk_then_stop_then_done_without_newline(host):
    t = await run(host, "str")
    assert normalise(t.raw) == chunk("plain string") + STOP + DONE
    assert t.message.content == "plain string" and t.message.done


async def test_every_chunk_gets_a_new_id(host):
    t = await run(host, "async_gen")
    ids = [c["id"] for c in t.chunks if isinstance(c, dict)]
    assert len(ids) == len(set(ids)) == 3
    assert all(i.startswith("returns_pipe-") for i in ids)


async def test_generators_sync_and_async(host):
    assert (
        normalise((await run(host, "sync_gen")).raw) == chunk("one ") + chunk("two") + STOP + DONE
    )
    assert normalise((await run(host, "async_gen")).raw) == (
        chunk("alpha ") + chunk("beta") + STOP + DONE
    )


async def test_empty_string_is_a_stop_chunk(host):
    assert normalise((await run(host, "empty")).raw) == STOP + STOP + DONE


async def test_dict_is_one_line_and_nothing_else(host):
    t = await run(host, "dict")
    assert t.raw.decode() == "data: " + json.dumps(t.chunks[0], separators=(",", ":")) + "\n\n"
    assert not t.ends_with_done
    # A whole completion while streaming shows nothing in the UI.
    assert t.message.content == ""


@pytest.mark.parametrize("mode", ["none", "list", "model"])
async def test_other_return_types_give_only_stop_and_done(host, mode):
    assert normalise((await run(host, mode)).raw) == STOP + DONE


async def test_mixed_items_models_dicts_bytes_data_lines_and_events(host):
    t = await run(host, "mixed")
    text = normalise(t.raw)
    assert text == (
        chunk("text ") + 'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,'
        '"delta":{"content":"chunk "},"finish_reason":null}]}\n\n'
        + 'data: {"id":"x","object":"custom"}\n\n'
        + chunk("bytes ")
        + 'data: {"custom": true}\n\n'  # passed through as written
        + STOP  # the empty-string quirk
        + 'data: {"event":{"type":"status","data":{"description":"inline event","done":true}}}\n\n'
        + STOP
        + DONE
    )
    assert t.message.content == "text chunk bytes "
    assert t.message.status_history == [{"description": "inline event", "done": True}]


async def test_streaming_response_is_passed_through_untouched(host):
    t = await run(host, "streaming_response")
    assert t.raw == b'data: {"raw": 1}\n\ndata: {"raw": 2}\n\n'
    assert t.chunks == [{"raw": 1}, {"raw": 2}]
    t = await run(host, "streaming_response", stream=False)
    assert t.raw == b'data: {"raw": 1}\n\ndata: {"raw": 2}\n\n'


async def test_raise_before_returning_is_an_error_line_without_done(host):
    t = await run(host, "raise")
    assert t.raw == b'data: {"error":{"detail":"upstream exploded"}}\n\n'
    assert t.status_code == 200 and t.message.error == "upstream exploded"


async def test_raise_mid_stream_is_the_api_error_frame_then_done(host):
    t = await run(host, "raise_mid")
    assert normalise(t.raw) == (
        chunk("partial ")
        + '\n\ndata: {"error":{"message":"Chat completion stream failed"}}\n\n'
        + "data: [DONE]\n\n"
    )
    assert t.message.error == "Chat completion stream failed"
    assert t.message.content == "partial "


async def test_raise_before_the_first_yield_of_an_async_generator(host):
    t = await run(host, "raise_first")
    assert t.raw == (
        b'\n\ndata: {"error":{"message":"Chat completion stream failed"}}\n\ndata: [DONE]\n\n'
    )


async def test_non_streaming_templates(host):
    t = await run(host, "async_gen", stream=False)
    assert t.status_code == 200
    assert list(t.response) == ["id", "created", "model", "choices", "object"]
    assert t.response["object"] == "chat.completion"
    assert t.response["choices"] == [
        {
            "index": 0,
            "logprobs": None,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "alpha beta"},
        }
    ]
    assert t.raw.startswith(b'{"id":"returns_pipe-')  # compact, as orjson renders it


async def test_non_streaming_joins_generator_items_with_str(host):
    t = await run(host, "mixed", stream=False)
    content = t.response["choices"][0]["message"]["content"]
    assert content.startswith("text {'id': 'c1'")
    assert "id='x' object='custom'" in content


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            "dict",
            {
                "id": "done-1",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "a dict"},
                        "finish_reason": "stop",
                    }
                ],
            },
        ),
        ("model", {"id": "x", "object": "custom"}),
        ("raise", {"error": {"detail": "upstream exploded"}}),
    ],
)
async def test_non_streaming_passthrough_and_error_dict(host, mode, expected):
    t = await run(host, mode, stream=False)
    assert t.status_code == 200 and t.response == expected


async def test_non_streaming_none_has_no_message(host):
    t = await run(host, "none", stream=False)
    assert t.response["choices"] == [{"index": 0, "logprobs": None, "finish_reason": "stop"}]


async def test_non_streaming_mid_generator_failure_is_http_400(host):
    t = await run(host, "raise_mid", stream=False)
    assert t.status_code == 400 and t.response == {"detail": "mid-stream failure"}
    assert t.message.error == "mid-stream failure"


def test_unicode_line_separators_are_escaped_and_other_text_stays_raw():
    line = process_line("m", {"content": "a\u2028b é"})
    assert line == 'data: {"content":"a\\u2028b é"}\n\n'


def test_a_non_text_item_fails_as_in_open_webui():
    with pytest.raises(AttributeError):
        process_line("m", 5)


def test_templates_key_order_and_flags():
    stop = chat_chunk_template("m")
    assert stop["choices"][0]["finish_reason"] == "stop" and stop["choices"][0]["delta"] == {}
    reasoning = chat_chunk_template("m", reasoning_content="r", usage={"total_tokens": 1})
    assert reasoning["choices"][0]["delta"] == {"reasoning_content": "r"}
    assert reasoning["usage"] == {"total_tokens": 1}
    done = chat_completion_template("m", "hi", reasoning_content="r", tool_calls=[{"id": 1}])
    assert done["choices"][0]["message"] == {
        "role": "assistant",
        "content": "hi",
        "reasoning_content": "r",
        "tool_calls": [{"id": 1}],
    }
    assert done["choices"][0]["finish_reason"] == "tool_calls"
