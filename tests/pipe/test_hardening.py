"""Hardening: hung catalogs, valves that become headers or URLs, malformed chat bodies, answers
that are not answers and repeated tool-call ids. Everything over real HTTP against the fake
OpenRouter (or a socket that accepts and never answers)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pydantic
import pytest

from pipe import Pipe
from tests.pipe.helpers import chat_body, make_pipe
from tests.pipe.helpers import run_pipe as _run_pipe


class Answer:
    def __init__(self, text: str) -> None:
        self.text = text


async def run_pipe(pipe: Pipe, body: dict) -> Answer:
    """The text the user sees, streamed or not."""
    out = await _run_pipe(pipe, body)
    return Answer("".join(c for c in out.chunks if isinstance(c, str)) or out.text)


# ---------------------------------------------------------------- a hung OpenRouter


@pytest.fixture
async def hung_url() -> AsyncIterator[str]:
    """A server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/api/v1"
    for writer in held:
        writer.close()
    server.close()


def hung_pipe(url: str) -> Pipe:
    pipe = Pipe()
    pipe.valves = Pipe.Valves(
        BASE_URL=url,
        API_KEY="sk-or-test",
        CONNECT_TIMEOUT_SECONDS=1,
        READ_TIMEOUT_SECONDS=1,
        MAX_RETRIES=0,
    )
    return pipe


async def test_a_hung_catalog_gives_an_empty_model_list_within_the_timeout(hung_url):
    # The read timeout is 1 s: far from the 300 s default the model list used to wait.
    assert await asyncio.wait_for(hung_pipe(hung_url).pipes(), 10) == []


async def test_a_chat_against_a_hung_catalog_fails_fast_with_a_clear_message(hung_url):
    out = await asyncio.wait_for(run_pipe(hung_pipe(hung_url), chat_body("hi")), 10)
    assert "The model stopped sending data" in out.text
    assert "model list could not be loaded" in out.text


async def test_the_next_chat_in_the_backoff_gets_the_message_at_once(hung_url):
    pipe = hung_pipe(hung_url)
    await asyncio.wait_for(run_pipe(pipe, chat_body("hi")), 10)
    out = await asyncio.wait_for(run_pipe(pipe, chat_body("again")), 0.5)
    assert "model list could not be loaded" in out.text


# ---------------------------------------------------------------- valves: headers and URLs


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("APP_TITLE", "Café"),
        ("APP_TITLE", "Open WebUI\r\nX-Injected: 1"),
        ("HTTP_REFERER", "https://example.org/\nX-Injected: 1"),
        ("HTTP_REFERER", "javascript:alert(1)"),
        ("BASE_URL", ""),
        ("BASE_URL", "not a url"),
        ("BASE_URL", "file:///etc/passwd"),
        ("BASE_URL", "https://openrouter.ai/api/v1?x=1"),
        ("BASE_URL", "https://exämple.org/api/v1"),
        ("CONNECT_TIMEOUT_SECONDS", math.inf),
        ("READ_TIMEOUT_SECONDS", math.nan),
        ("READ_TIMEOUT_SECONDS", 1e9),
        ("RETRY_BACKOFF_SECONDS", math.inf),
        ("RETRY_MAX_WAIT_SECONDS", math.inf),
        ("TOOL_TIMEOUT_SECONDS", math.inf),
        ("MODEL_CATALOG_REFRESH_SECONDS", 10**12),
    ],
)
def test_valves_that_become_headers_urls_or_waits_are_checked(name, value):
    with pytest.raises(pydantic.ValidationError):
        Pipe.Valves(**{name: value})


def test_good_header_and_url_valves_are_kept():
    valves = Pipe.Valves(
        BASE_URL=" https://openrouter.ai/api/v1 ", HTTP_REFERER="", APP_TITLE="My Chat 2"
    )
    assert valves.BASE_URL == "https://openrouter.ai/api/v1"
    assert valves.HTTP_REFERER == "" and valves.APP_TITLE == "My Chat 2"


async def test_a_stored_bad_title_is_left_out_not_fatal(openrouter_sim):
    """Valves saved before the checks existed reach the pipe unvalidated."""
    pipe = make_pipe(openrouter_sim)
    pipe.valves = pipe.valves.model_copy(update={"APP_TITLE": "Café"})
    out = await run_pipe(pipe, chat_body("hi"))
    assert out.text == "You said: hi"
    sent = openrouter_sim.requests_to("/responses")[-1]["headers"]
    assert "x-title" not in sent and "x-openrouter-title" not in sent


async def test_a_changed_title_reaches_the_next_request_without_a_restart(openrouter_sim):
    pipe = make_pipe(openrouter_sim, APP_TITLE="First")
    await run_pipe(pipe, chat_body("one"))
    pipe.valves = pipe.valves.model_copy(update={"APP_TITLE": "Second"})
    await run_pipe(pipe, chat_body("two"))
    titles = [e["headers"].get("x-openrouter-title") for e in openrouter_sim.journal()]
    assert titles[0] == "First" and titles[-1] == "Second"


# ---------------------------------------------------------------- malformed chat bodies

BAD_BODIES = {
    "message_without_role": ({"messages": [{"content": "hi"}]}, "message 1 has no role"),
    "unknown_role": (
        {"messages": [{"role": "wizard", "content": "hi"}]},
        "message 1 has role 'wizard'",
    ),
    "number_content": ({"messages": [{"role": "user", "content": 42}]}, "content of type int"),
    "dict_content": (
        {"messages": [{"role": "user", "content": {"a": 1}}]},
        "content of type dict",
    ),
    "junk_part": ({"messages": [{"role": "user", "content": [1]}]}, "content part 1"),
    "negative_max_tokens": ({"max_tokens": -5}, "max_tokens must be between 1 and"),
    "huge_max_tokens": ({"max_tokens": 1e30}, "max_tokens must be between 1 and"),
    "fractional_max_tokens": ({"max_tokens": 10.5}, "max_tokens must be a whole number"),
    "temperature_out_of_range": ({"temperature": 7}, "temperature must be between 0 and 2"),
    "temperature_not_a_number": ({"temperature": "hot"}, "temperature must be a number"),
    "top_p_nan": ({"top_p": math.nan}, "top_p must be a finite number"),
    "lone_surrogate": (
        {"messages": [{"role": "user", "content": "hi \ud800"}]},
        "not valid Unicode",
    ),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
@pytest.mark.parametrize("stream", [True, False])
async def test_a_malformed_body_is_refused_by_name_and_costs_no_call(openrouter_sim, name, stream):
    fields, reason = BAD_BODIES[name]
    body = {**chat_body("hi", stream=stream), **fields}
    out = await run_pipe(make_pipe(openrouter_sim), body)
    assert "The request is malformed" in out.text
    assert reason in out.text
    assert "Traceback" not in out.text and "Error" not in out.text.split("Error ID")[0]
    assert openrouter_sim.requests_to("/responses") == []


async def test_numbers_in_range_and_as_strings_are_sent(openrouter_sim):
    body = {**chat_body("hi"), "temperature": "0.5", "max_tokens": "100", "top_p": 1}
    await run_pipe(make_pipe(openrouter_sim), body)
    sent = openrouter_sim.requests_to("/responses")[-1]["body"]
    assert sent["temperature"] == 0.5 and sent["max_output_tokens"] == 100


# ---------------------------------------------------------------- answers that are not answers

HTML = "<html><body>Welcome to the hotel Wi-Fi</body></html>"


@pytest.mark.parametrize("stream", [True, False])
async def test_an_html_page_with_status_200_is_reported_as_what_it_is(openrouter_sim, stream):
    openrouter_sim.enqueue({"status": 200, "body": HTML, "headers": {"Content-Type": "text/html"}})
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("hi", stream=stream))
    assert "answered with something else" in out.text
    assert "text/html" in out.text and "cut off" not in out.text
    assert len(openrouter_sim.requests_to("/responses")) == 1  # not retried


# ---------------------------------------------------------------- repeated tool-call ids


def _tool_turn(call_id: str, result: str) -> list[dict]:
    call = {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}
    return [
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": result},
    ]


async def test_a_repeated_tool_call_id_is_sent_as_two_distinct_calls(openrouter_sim):
    messages = [
        {"role": "user", "content": "twice"},
        *_tool_turn("call_0", "first"),
        {"role": "user", "content": "again"},
        *_tool_turn("call_0", "second"),
        {"role": "user", "content": "thanks"},
    ]
    await run_pipe(make_pipe(openrouter_sim), {**chat_body(), "messages": messages})
    items = openrouter_sim.requests_to("/responses")[-1]["body"]["input"]
    calls = [i for i in items if i.get("type") == "function_call"]
    outputs = [i for i in items if i.get("type") == "function_call_output"]
    assert [c["call_id"] for c in calls] == ["call_0", "call_0_2"]
    assert len({c["id"] for c in calls}) == 2
    assert [(o["call_id"], o["output"]) for o in outputs] == [
        ("call_0", "first"),
        ("call_0_2", "second"),
    ]
