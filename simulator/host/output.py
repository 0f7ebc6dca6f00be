"""Turn a pipe's return value into the bytes Open WebUI 0.12.4 sends (`stream_content`).

Also the API-path wrapper that turns an exception raised while iterating into
`{"error": {"message": "Chat completion stream failed"}}` plus `[DONE]`, and the
non-streaming answer (`{"error": {"detail": ...}}` when the pipe raises).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any

from pydantic import BaseModel
from starlette.responses import StreamingResponse

from simulator.host.jsoncodec import dumps, response_bytes
from simulator.host.templates import chat_chunk_template, chat_completion_template

log = logging.getLogger(__name__)

DONE = "data: [DONE]"
STREAM_FAILED = {"error": {"message": "Chat completion stream failed"}}


def sse(payload: Any) -> str:
    return f"data: {dumps(payload)}\n\n"


def process_line(model: str, line: Any) -> str:
    """One generator item as SSE: models and dicts as JSON, `data:` text passed through."""
    if isinstance(line, BaseModel):
        line = f"data: {line.model_dump_json()}"
    if isinstance(line, dict):
        line = f"data: {dumps(line)}"
    try:
        line = line.decode("utf-8")
    except Exception:
        pass
    if line.startswith("data:"):  # other types raise here, as in Open WebUI
        return f"{line}\n\n"
    return sse(chat_chunk_template(model, line))


def finish_chunk(model: str) -> str:
    message = chat_chunk_template(model, "")
    message["choices"][0]["finish_reason"] = "stop"
    return sse(message)


async def stream_content(pipe_call, model: str) -> AsyncIterator[str | bytes]:
    """`stream_content`: `pipe_call` is a zero-argument coroutine factory running the pipe.

    Exceptions raised while iterating the pipe's generator propagate (the caller wraps them).
    """
    try:
        res = await pipe_call()
        if isinstance(res, StreamingResponse):
            async for data in res.body_iterator:
                yield data
            return
        if isinstance(res, dict):
            yield sse(res)
            return
    except Exception as exc:
        log.info("Error: %s", exc)
        yield sse({"error": {"detail": str(exc)}})
        return

    if isinstance(res, str):
        yield sse(chat_chunk_template(model, res))
    if isinstance(res, Iterator):
        for line in res:
            yield process_line(model, line)
    if isinstance(res, AsyncGenerator):
        async for line in res:
            yield process_line(model, line)
    yield finish_chunk(model)
    yield DONE


async def api_stream(source: AsyncIterator[str | bytes]) -> AsyncIterator[str | bytes]:
    """The API path's fallback `stream_wrapper`: a mid-stream exception becomes an error line."""
    try:
        async for item in source:
            yield item
    except Exception as exc:
        log.info("Chat completion stream failed mid-response: %s", exc)
        # Open WebUI separates the error frame from any unfinished upstream event.
        yield f"\n\n{sse(STREAM_FAILED)}"
        yield f"{DONE}\n\n"


class MidStreamError(Exception):
    """A generator raised while a non-streaming answer was joined (HTTP 400 `{"detail"}`)."""


async def _join(res: Any) -> str | None:
    if isinstance(res, str):
        return res
    if isinstance(res, Generator):
        return "".join(map(str, res))
    if isinstance(res, AsyncGenerator):
        return "".join([str(item) async for item in res])
    return None


async def non_stream_content(pipe_call, model: str) -> Any:
    """The non-streaming answer: a dict, a StreamingResponse, or the completion template.

    Raises `MidStreamError` when a returned generator raises while it is joined.
    """
    try:
        res = await pipe_call()
    except Exception as exc:
        log.info("Error: %s", exc)
        return {"error": {"detail": str(exc)}}
    if isinstance(res, StreamingResponse | dict):
        return res
    if isinstance(res, BaseModel):
        return res.model_dump()
    try:
        message = await _join(res)
    except Exception as exc:
        raise MidStreamError(str(exc)) from exc
    return chat_completion_template(model, message)


def json_response_bytes(payload: Any) -> bytes:
    """The JSON body Open WebUI sends for a non-streaming answer."""
    return response_bytes(payload)
