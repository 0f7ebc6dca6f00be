"""The read side: the streaming call goes through aiohttp (loopback to the fake OpenRouter)
and is read once per coalescing window after the first output, without giving up the first
token at once, the read timeout, errors mid-stream, or complete answers."""

from __future__ import annotations

import time

import aiohttp
import pytest

from pipe.errors import ErrorKind
from pipe.runtime import close_runtimes
from pipe.streamio import aiohttp_failure
from tests.pipe.helpers import chat_body, make_pipe, metadata, run_pipe, user


async def _chunk_times(pipe, body) -> list[tuple[float, str]]:
    started = time.monotonic()
    result = await pipe.pipe(body=body, __user__=user(), __metadata__=metadata())
    out = []
    async for chunk in result:
        text = chunk if isinstance(chunk, str) else _content(chunk)
        if text:
            out.append((time.monotonic() - started, text))
    return out


def _content(chunk) -> str:
    if isinstance(chunk, dict):
        choices = chunk.get("choices") or [{}]
        return (choices[0].get("delta") or {}).get("content") or ""
    return ""


async def test_a_paced_stream_is_read_and_shown_once_per_window(openrouter_sim):
    words = [f"w{n} " for n in range(150)]
    openrouter_sim.enqueue({"script": {"text": "".join(words), "chunk_words": 1}, "tps": 500})
    pipe = make_pipe(openrouter_sim, STREAM_COALESCE_MS=40)
    chunks = await _chunk_times(pipe, chat_body("x"))
    assert "".join(t for _, t in chunks) == "".join(words)
    assert chunks[0][1].startswith("w0 ")  # not merged into the first window
    span = chunks[-1][0] - chunks[0][0]
    assert len(chunks) <= span / 0.040 + 3, (len(chunks), span)  # ~one chunk per window


async def test_first_token_is_not_held_for_a_window(openrouter_sim):
    openrouter_sim.enqueue({"script": {"text": "hello world"}, "ttft": 0.2})
    pipe = make_pipe(openrouter_sim, STREAM_COALESCE_MS=500)
    chunks = await _chunk_times(pipe, chat_body("x"))
    assert chunks[0][1].startswith("hello") and chunks[0][0] < 0.45  # TTFT 0.2 s, window 0.5 s


async def test_a_silent_upstream_mid_answer_hits_the_read_timeout_and_keeps_the_text(
    openrouter_sim,
):
    openrouter_sim.enqueue(
        {
            "script": {"text": "partial answer then silence"},
            "fault": "keepalive;after=5;comments=1;seconds=2",
        }
    )
    pipe = make_pipe(openrouter_sim, READ_TIMEOUT_SECONDS=0.3, MAX_RETRIES=0)
    out = await run_pipe(pipe, chat_body("x"))
    assert out.text.startswith("partial")
    assert "The model stopped sending data" in out.text


async def test_an_error_event_mid_answer_is_shown_after_the_text(openrouter_sim):
    openrouter_sim.enqueue(
        {
            "script": {"text": " ".join(["word"] * 60)},
            "tps": 400,
            "fault": "error_event;after=40;message=provider fell over",
        }
    )
    pipe = make_pipe(openrouter_sim, MAX_RETRIES=0)
    out = await run_pipe(pipe, chat_body("x"))
    assert out.text.startswith("word word")
    assert "provider fell over" in out.text


@pytest.mark.parametrize(
    ("exc", "started", "kind"),
    [
        (aiohttp.ConnectionTimeoutError(), False, ErrorKind.CONNECT_TIMEOUT),
        (aiohttp.SocketTimeoutError(), True, ErrorKind.READ_TIMEOUT),
        (TimeoutError(), False, ErrorKind.READ_TIMEOUT),
        (aiohttp.ClientPayloadError("cut"), True, ErrorKind.STREAM_CUT),
        (aiohttp.ServerDisconnectedError(), False, ErrorKind.CONNECTION),
    ],
)
def test_aiohttp_failures_map_to_the_same_error_kinds_as_httpx(exc, started, kind):
    assert aiohttp_failure(exc, started).kind is kind


async def test_the_streaming_call_honours_the_proxy_environment(openrouter_sim, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "")
    out = await run_pipe(make_pipe(openrouter_sim, MAX_RETRIES=0), chat_body("x"))
    assert "Could not connect to OpenRouter" in out.text  # it went to the proxy
    await close_runtimes()  # proxies are read when the HTTP clients are made (as httpx does)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    out = await run_pipe(make_pipe(openrouter_sim, MAX_RETRIES=0), chat_body("x"))
    assert out.text == "You said: x"


async def test_text_read_together_with_a_corrupt_frame_is_shown_before_the_error():
    from tests.pipe.helpers import GatedUpstream, gated_pipe, sse_frame, text_events

    events = text_events(["Hello ", "there"])[:-1]  # no terminal event: the frame breaks first
    one_read = b"".join(sse_frame(e) for e in events) + b'data: {"type":"response.out\n\n'
    upstream = GatedUpstream([one_read])
    out = await run_pipe(gated_pipe(upstream, MAX_RETRIES=1), chat_body("x"))
    assert out.text.startswith("Hello there")  # not dropped with the corrupt frame
    assert "could not read" in out.text and "invalid JSON" in out.text
    assert upstream.requests == 1  # text was shown: no retry that would repeat it


async def test_a_window_longer_than_the_read_timeout_is_no_read_timeout(openrouter_sim):
    words = [f"w{n} " for n in range(120)]
    openrouter_sim.enqueue({"script": {"text": "".join(words), "chunk_words": 1}, "tps": 100})
    pipe = make_pipe(
        openrouter_sim, STREAM_COALESCE_MS=1000, READ_TIMEOUT_SECONDS=0.5, MAX_RETRIES=0
    )
    out = await run_pipe(pipe, chat_body("x"))
    assert out.text == "".join(words)  # data kept arriving: never idle for 0.5 s
