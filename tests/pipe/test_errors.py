"""Every failure the fake OpenRouter can produce, through the public contract: a readable
Markdown error with an id, retries only before output, and a stream that always ends."""

from __future__ import annotations

import re

import httpx
import pytest

from pipe import Pipe
from pipe.errors import ErrorKind, PipeError, error_from_http, parse_retry_after, render_error
from pipe.upstream import retry_delay
from tests.pipe.helpers import (  # noqa: F401
    CATALOG,
    Recorder,
    chat_body,
    consume,
    make_pipe,
    metadata,
    run_pipe,
    user,
)

ERROR_ID = re.compile(r"Error ID: `[0-9a-f]{16}`")
LONG_TEXT = "one two three four five six seven eight nine ten"


def responses_calls(sim) -> int:
    return len(sim.requests_to("/responses"))


def assert_error_message(text: str, title: str) -> None:
    assert title in text, text
    assert ERROR_ID.search(text), text


@pytest.mark.parametrize(
    ("status", "title"),
    [
        (400, "OpenRouter rejected the request"),
        (401, "authentication failed"),
        (402, "Insufficient OpenRouter credits"),
        (404, "Model not available"),
        (413, "OpenRouter rejected the request"),
    ],
)
async def test_non_retryable_statuses_show_once(openrouter_sim, status, title):
    openrouter_sim.enqueue({"status": status})
    rec = Recorder()
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("x"), rec)
    assert_error_message(out.text, title)
    assert f"HTTP {status}" in out.text
    assert responses_calls(openrouter_sim) == 1
    assert rec.of_type("status")[-1]["data"]["error"] is True


async def test_400_responses_envelope_with_string_code(openrouter_sim):
    body = {
        "error": {"code": "invalid_prompt", "message": "Missing required parameter: 'model'."},
        "metadata": None,
    }
    openrouter_sim.enqueue({"status": 400, "body": body})
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("x"))
    assert "Missing required parameter: 'model'." in out.text
    assert "code `invalid_prompt`" in out.text


async def test_403_moderation_shows_reasons_and_flagged_input(openrouter_sim):
    body = {
        "error": {
            "code": 403,
            "message": "Your input was flagged",
            "metadata": {
                "reasons": ["violence"],
                "flagged_input": "bad words",
                "provider_name": "OpenAI",
                "model_slug": "openai/gpt-4o",
            },
        }
    }
    openrouter_sim.enqueue({"status": 403, "body": body})
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("x"))
    assert_error_message(out.text, "refused")
    assert (
        "reasons: violence" in out.text
        and "bad words" in out.text
        and "provider OpenAI" in out.text
    )
    assert responses_calls(openrouter_sim) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_retryable_statuses_are_retried_then_succeed(openrouter_sim, status):
    kind = "rate_limit" if status == 429 else f"server_error;status={status}"
    if status == 408:
        kind = "server_error;status=408"
    openrouter_sim.enqueue(
        {"script": {"text": "recovered"}, "fault": f"{kind};count=1;retry_after=0"}
    )
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("x"))
    assert out.text == "recovered"
    assert responses_calls(openrouter_sim) == 2


async def test_retries_give_up_after_max_retries_with_the_error(openrouter_sim):
    openrouter_sim.enqueue(
        {"script": {"text": "never"}, "fault": "server_error;status=502;count=5"}
    )
    out = await run_pipe(make_pipe(openrouter_sim, MAX_RETRIES=2), chat_body("x"))
    assert_error_message(out.text, "provider had an error")
    assert responses_calls(openrouter_sim) == 3


async def test_retry_after_longer_than_max_wait_is_shown_not_waited(openrouter_sim):
    openrouter_sim.enqueue(
        {"script": {"text": "later"}, "fault": "rate_limit;count=1;retry_after=120"}
    )
    out = await run_pipe(make_pipe(openrouter_sim, RETRY_MAX_WAIT_SECONDS=5), chat_body("x"))
    assert_error_message(out.text, "Rate limited")
    assert "retry after 120s" in out.text
    assert responses_calls(openrouter_sim) == 1


def test_retry_delay_honours_retry_after_and_backs_off():
    err = PipeError(ErrorKind.RATE_LIMIT, "x", status=429, retry_after=3)
    assert retry_delay(0, err, base=0.5, max_wait=30) == 3
    assert retry_delay(0, err, base=0.5, max_wait=2) is None
    plain = PipeError(ErrorKind.SERVER, "x", status=502)
    assert 1.0 <= retry_delay(1, plain, base=0.5, max_wait=30) <= 1.25
    assert retry_delay(10, plain, base=0.5, max_wait=4) == 4
    assert retry_delay(0, PipeError(ErrorKind.AUTH, "x", status=401), 0.5, 30) is None
    assert parse_retry_after("7") == 7 and parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None


@pytest.mark.parametrize(
    "fault",
    [
        "error_event",
        "nested_error",
        "failed;error_type=provider_unavailable",
        "disconnect",
        "malformed",
    ],
)
async def test_mid_stream_faults_before_output_are_retried(openrouter_sim, fault):
    openrouter_sim.enqueue({"script": {"text": "first try"}, "fault": f"{fault};after=2"})
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("again"))
    assert out.text == "You said: again"
    assert responses_calls(openrouter_sim) == 2


@pytest.mark.parametrize(
    ("fault", "title"),
    [
        ("error_event", "reported an error"),
        ("nested_error", "reported an error"),
        ("failed;error_type=provider_unavailable", "reported an error"),
        ("disconnect", "cut off"),
        ("malformed", "could not read"),
    ],
)
async def test_mid_stream_faults_after_output_keep_text_and_append_error(
    openrouter_sim, fault, title
):
    # a pause before the fault lets the text reach the user first (nothing to retry then)
    faults = f"keepalive;after=8;comments=1;seconds=0.3, {fault};after=8"
    openrouter_sim.enqueue({"script": {"text": LONG_TEXT}, "fault": faults})
    rec = Recorder()
    out = await run_pipe(make_pipe(openrouter_sim, STREAM_COALESCE_MS=0), chat_body("x"), rec)
    shown, _, error = out.text.partition("\n\n")
    assert shown and LONG_TEXT.startswith(shown)  # what was shown is not repeated
    assert_error_message(error, title)
    assert responses_calls(openrouter_sim) == 1
    assert out.text.count(shown) == 1


async def test_error_event_code_and_message_are_shown(openrouter_sim):
    openrouter_sim.enqueue(
        {
            "script": {"text": LONG_TEXT},
            "fault": "error_event;after=8;code=context_length_exceeded;message=Too long for this model",
        }
    )
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("x"))
    assert "Too long for this model" in out.text and "context_length_exceeded" in out.text


async def test_read_timeout_while_waiting_for_headers(openrouter_sim):
    openrouter_sim.enqueue({"script": {"text": "slow"}, "fault": "latency;seconds=1"})
    out = await run_pipe(
        make_pipe(openrouter_sim, READ_TIMEOUT_SECONDS=0.2, MAX_RETRIES=0), chat_body("x")
    )
    assert_error_message(out.text, "stopped sending data")


async def test_keepalive_comments_keep_a_quiet_stream_alive(openrouter_sim):
    openrouter_sim.enqueue(
        {"script": {"text": "patient"}, "fault": "keepalive;after=2;comments=6;seconds=0.6"}
    )
    out = await run_pipe(
        make_pipe(openrouter_sim, READ_TIMEOUT_SECONDS=0.5, MAX_RETRIES=0), chat_body("x")
    )
    assert out.text == "patient"


async def test_connection_refused_is_a_connection_error(closed_url):
    p = Pipe()
    p.valves = Pipe.Valves(
        BASE_URL=f"{closed_url}/api/v1",
        API_KEY="sk-or-test",
        MAX_RETRIES=1,
        RETRY_BACKOFF_SECONDS=0.01,
    )
    rec = Recorder()
    out = await run_pipe(p, chat_body("x"), rec)
    assert_error_message(out.text, "Could not connect to OpenRouter")


async def test_connect_timeout_via_transport():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path.endswith("/models"):  # the catalog answers; /responses cannot
            return httpx.Response(200, json=CATALOG)
        raise httpx.ConnectTimeout("timed out", request=request)

    p = Pipe(transport=httpx.MockTransport(handler))
    p.valves = Pipe.Valves(
        BASE_URL="http://upstream.test/api/v1",
        API_KEY="sk-or-test",
        MAX_RETRIES=1,
        RETRY_BACKOFF_SECONDS=0.01,
    )
    out = await run_pipe(p, chat_body("x"))
    assert_error_message(out.text, "Could not reach OpenRouter in time")
    assert calls.count("/api/v1/responses") == 2  # retried once


async def test_missing_api_key_is_a_config_error(monkeypatch, openrouter_sim):
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    p = make_pipe(openrouter_sim, API_KEY="")
    out = await run_pipe(p, chat_body("x"))
    assert_error_message(out.text, "not configured")
    assert responses_calls(openrouter_sim) == 0


async def test_api_key_from_environment(monkeypatch, openrouter_sim):
    monkeypatch.setenv("OPENROUTER_API_KEY", openrouter_sim.api_key)
    out = await run_pipe(make_pipe(openrouter_sim, API_KEY=""), chat_body("env"))
    assert out.text == "You said: env"


async def test_unknown_model_and_filtered_model(openrouter_sim):
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("x", model="nope.missing"))
    assert_error_message(out.text, "Model not available")
    out = await run_pipe(
        make_pipe(openrouter_sim, MODEL_ID="openai/gpt-4o"),
        chat_body("x", model="openai.gpt-4o-mini"),
    )
    assert "not enabled" in out.text
    assert responses_calls(openrouter_sim) == 0


async def test_bad_body_is_a_clear_error(openrouter_sim):
    out = await run_pipe(
        make_pipe(openrouter_sim),
        {"model": "openrouter.openai.gpt-4o", "messages": [], "stream": True},
    )
    assert "no messages" in out.text


async def test_support_contacts_and_custom_template(openrouter_sim):
    openrouter_sim.enqueue({"status": 402})
    p = make_pipe(
        openrouter_sim, SUPPORT_EMAIL="help@acme.test", SUPPORT_URL="https://acme.test/help"
    )
    out = await run_pipe(p, chat_body("x"))
    assert (
        "[help@acme.test](mailto:help@acme.test)" in out.text
        and "https://acme.test/help" in out.text
    )
    openrouter_sim.enqueue({"status": 402})
    p = make_pipe(
        openrouter_sim, ERROR_TEMPLATE="**{title}** ({kind}, {status}) id={error_id}\n{support}"
    )
    out = await run_pipe(p, chat_body("x"))
    assert out.text.startswith("**Insufficient OpenRouter credits** (credits, 402) id=")
    assert "Support" not in out.text  # the support line is dropped when no contacts are set


async def test_non_streaming_error_returns_markdown_and_task_error_returns_empty(openrouter_sim):
    openrouter_sim.enqueue({"status": 401})
    p = make_pipe(openrouter_sim)
    result = await p.pipe(
        body=chat_body("x", stream=False), __user__=user(), __metadata__=metadata()
    )
    assert isinstance(result, str) and "authentication failed" in result
    openrouter_sim.enqueue({"status": 401})
    result = await p.pipe(
        body=chat_body("x", stream=False), __user__=user(), __task__="title_generation"
    )
    assert result == ""


async def test_non_streaming_in_band_failure_is_retried(openrouter_sim):
    """The upstream answers HTTP 200 with `status: "failed"` (how OpenRouter reports a
    generation failing part-way); a retryable in-band error is tried again."""
    openrouter_sim.enqueue({"script": {"text": "x"}, "fault": "failed"})
    p = make_pipe(openrouter_sim)
    result = await p.pipe(
        body=chat_body("retry me", stream=False), __user__=user(), __metadata__=metadata()
    )
    assert result == "You said: retry me"
    assert responses_calls(openrouter_sim) == 2


async def test_non_streaming_in_band_failure_that_is_final_is_shown_not_retried(openrouter_sim):
    openrouter_sim.enqueue(
        {"script": {"text": "x"}, "fault": "failed;code=invalid_prompt;error_type=invalid_prompt"}
    )
    p = make_pipe(openrouter_sim)
    result = await p.pipe(
        body=chat_body("no retry", stream=False), __user__=user(), __metadata__=metadata()
    )
    assert responses_calls(openrouter_sim) == 1
    assert "Provider returned error" in result and "You said" not in result


@pytest.mark.parametrize("stream", [True, False])
async def test_in_band_rate_limit_before_any_output_is_retried(openrouter_sim, stream):
    """`response.failed` with code `rate_limit_exceeded` (an error_type the pipe does not treat
    as retryable on its own) before any output: the code alone makes it retryable."""
    fault = "failed;after=2;code=rate_limit_exceeded;error_type=rate_limit_exceeded"
    openrouter_sim.enqueue(
        {"script": {"text": "first"}, "fault": fault}, {"script": {"text": "second try"}}
    )
    p = make_pipe(openrouter_sim)
    if stream:
        text = (await run_pipe(p, chat_body("x"))).text
    else:
        text = await p.pipe(
            body=chat_body("x", stream=False), __user__=user(), __metadata__=metadata()
        )
    assert text == "second try"
    assert responses_calls(openrouter_sim) == 2


def test_error_from_http_reads_both_code_shapes_and_availability():
    e = error_from_http(
        429,
        {
            "error": {
                "code": 429,
                "message": "slow down",
                "availability": {"code": "capacity_exhausted", "retry_after": 4},
            }
        },
        {},
    )
    assert e.kind is ErrorKind.RATE_LIMIT and e.retry_after == 4 and e.retryable
    e = error_from_http(400, {"error": {"code": "invalid_prompt", "message": "bad"}}, {})
    assert e.code == "invalid_prompt" and not e.retryable
    e = error_from_http(503, "<html>down</html>", {"Retry-After": "2"})
    assert e.kind is ErrorKind.SERVER and e.retry_after == 2 and e.message == "<html>down</html>"


async def _one_read(parts: list[bytes], **valves):
    from tests.pipe.helpers import GatedUpstream, gated_pipe

    upstream = GatedUpstream([b"".join(parts)])
    p = gated_pipe(upstream, **valves)
    return upstream, await run_pipe(p, chat_body("x"))


def _failed_stream(error_type: str, code: str = "server_error") -> list[bytes]:
    from tests.pipe.helpers import sse_frame, text_events

    events = text_events(["Hello", " world"])[:-1]
    failed = {
        "type": "response.failed",
        "response": {
            "id": "r",
            "object": "response",
            "status": "failed",
            "output": [],
            "error": {"code": code, "message": "boom"},
            "error_type": error_type,
        },
    }
    return [sse_frame(e) for e in [*events, failed]] + [b"data: [DONE]\n\n"]


async def test_text_held_by_coalescing_is_shown_before_a_final_error():
    upstream, out = await _one_read(
        _failed_stream("invalid_request", code="invalid_prompt"), STREAM_COALESCE_MS=1000
    )
    shown, _, error = out.text.partition("\n\n")
    assert shown == "Hello world"
    assert "boom" in error and upstream.requests == 1


async def test_text_held_is_dropped_when_a_retry_replaces_it():
    upstream, out = await _one_read(
        _failed_stream("provider_unavailable"), STREAM_COALESCE_MS=1000, MAX_RETRIES=1
    )
    # both attempts fail the same way: the last one shows its text once, then the error
    assert upstream.requests == 2
    assert out.text.count("Hello world") == 1 and "boom" in out.text


async def test_errors_name_the_generation_or_response_for_support(openrouter_sim):
    openrouter_sim.enqueue({"script": {"text": LONG_TEXT}, "fault": "disconnect;after=3"})
    out = await run_pipe(make_pipe(openrouter_sim, MAX_RETRIES=0), chat_body("x"))
    assert re.search(r"generation `gen-[0-9a-f]+`", out.text), out.text
    openrouter_sim.enqueue(
        {
            "script": {"text": LONG_TEXT},
            "fault": "failed;after=3;error_type=invalid_request;code=invalid_prompt",
        }
    )
    out = await run_pipe(make_pipe(openrouter_sim, MAX_RETRIES=0), chat_body("x"))
    assert re.search(r"response `resp_[0-9a-f]+`", out.text), out.text
    err = error_from_http(
        502, {"error": {"code": 502, "message": "x"}}, {"X-Generation-Id": "gen-abc"}
    )
    assert "generation `gen-abc`" in render_error(err, error_id="1")


async def test_keepalives_forever_do_not_hang_the_stream(openrouter_sim):
    openrouter_sim.enqueue(
        {"script": {"text": "never"}, "fault": "keepalive;after=2;comments=40;seconds=4"}
    )
    p = make_pipe(openrouter_sim, READ_TIMEOUT_SECONDS=0.3, MAX_RETRIES=0)
    out = await run_pipe(p, chat_body("x"))
    assert_error_message(out.text, "stopped sending data")
    assert "only keep-alives" in out.text


def _exploding_pipe() -> Pipe:
    """An upstream transport that fails with an exception no layer expects (a bug stand-in):
    the catalog answers, every `/responses` call raises `RuntimeError`."""
    from tests.pipe.helpers import CATALOG

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json=CATALOG)
        raise RuntimeError("transport exploded")

    pipe = Pipe(transport=httpx.MockTransport(handler))
    pipe.valves = Pipe.Valves(BASE_URL="http://upstream.test/api/v1", API_KEY="sk-or-test")
    return pipe


async def test_unexpected_errors_end_non_streaming_chats_with_a_message_and_tasks_empty():
    body = chat_body("x", stream=False)
    text = await _exploding_pipe().pipe(body=body, __user__=user(), __metadata__=metadata())
    assert_error_message(text, "Unexpected error in the pipe")
    task = await _exploding_pipe().pipe(body=body, __user__=user(), __task__="title_generation")
    assert task == ""
