"""Two degradations, both only before anything of the answer was received:

- a provider that rejects the reasoning parameters (e.g. "include_thoughts is only enabled
  when thinking is enabled") gets the same request once more without `reasoning`/`include`;
- a model for which OpenRouter refuses `/responses` is asked on `/chat/completions` instead
  (the chat answer is turned into Responses events by `chat_compat.py`), and the model is
  remembered for an hour so later requests go there directly.

Each has a valve (RETRY_WITHOUT_REASONING, CHAT_COMPLETIONS_FALLBACK).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import orjson

from .chat_compat import ChatStreamAdapter, chat_body, completion_to_response
from .errors import ErrorKind, PipeError, error_from_http, error_from_stream
from .logs import get_logger
from .sse import SSEDecoder
from .stream_events import AnyEvent, decode_event
from .streamio import StreamOpener, StreamTimeouts, httpx_failure
from .upstream import ResponsesClient, UpstreamConfig, _drain, _error_body, _media, not_an_answer
from .wire import ResponseObject, ResponsesRequest

CHAT_ONLY_SECONDS = 3600.0
REFUSAL_CODES = frozenset({"unsupported_endpoint", "responses_not_supported"})
REASONING_WORDS = ("reasoning", "thinking", "include_thoughts")


@dataclass(frozen=True)
class FallbackPolicy:
    chat_fallback: bool = True
    retry_without_reasoning: bool = True


def _said(error: PipeError) -> str:
    return f"{error.message} {error.details.get('raw', '')}".lower()


def responses_refused(error: PipeError) -> bool:
    """OpenRouter will not serve this model on `/responses` (chat completions may work)."""
    if error.status not in (400, 404, 405, 422, 501):
        return False
    if str(error.code or "").lower() in REFUSAL_CODES:
        return True
    said = _said(error)
    return "responses" in said and any(
        hint in said
        for hint in ("not supported", "unsupported", "chat/completions", "openai-responses-v1")
    )


def rejects_reasoning(error: PipeError) -> bool:
    """A 400 about the reasoning parameters (the model or provider cannot take them)."""
    return error.status in (400, 422) and any(w in _said(error) for w in REASONING_WORDS)


def without_reasoning(request: ResponsesRequest) -> ResponsesRequest | None:
    if request.reasoning is None and not request.include:
        return None
    return request.model_copy(update={"reasoning": None, "include": None})


class FallbackClient(ResponsesClient):
    """`ResponsesClient` with the two degradations; `chat_only` is the runtime's memory of
    models refused on `/responses` (base URL + model -> until when)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        config: UpstreamConfig,
        policy: FallbackPolicy,
        chat_only: dict[str, float],
        streams: StreamOpener | None = None,
    ) -> None:
        super().__init__(client, config, streams)
        self._policy = policy
        self._chat_only = chat_only
        self._chat_url = config.base_url.rstrip("/") + "/chat/completions"

    def _chat_key(self, request: ResponsesRequest) -> str:
        return f"{self._chat_url}|{request.model}"

    def _use_chat(self, request: ResponsesRequest) -> bool:
        if not self._policy.chat_fallback:
            return False
        until = self._chat_only.get(self._chat_key(request), 0.0)
        return until > time.monotonic()

    def _plan_b(self, request: ResponsesRequest, error: PipeError) -> ResponsesRequest | str | None:
        """What to try instead after `error` (nothing received yet): a request without
        reasoning, "chat", or None (show the error)."""
        stripped = without_reasoning(request)
        if self._policy.retry_without_reasoning and stripped and rejects_reasoning(error):
            get_logger().info("the provider rejected the reasoning parameters; retrying without")
            return stripped
        if self._policy.chat_fallback and responses_refused(error):
            get_logger().info("/responses refused for %s; using /chat/completions", request.model)
            self._chat_only[self._chat_key(request)] = time.monotonic() + CHAT_ONLY_SECONDS
            return "chat"
        return None

    async def create(self, request: ResponsesRequest) -> ResponseObject:
        if self._use_chat(request):
            return await self._chat_create(request)
        try:
            return await super().create(request)
        except PipeError as error:
            plan = self._plan_b(request, error)
            if plan is None:
                raise
        if plan == "chat":
            return await self._chat_create(request)
        assert isinstance(plan, ResponsesRequest)
        return await self.create(plan)

    async def stream(self, request: ResponsesRequest) -> AsyncIterator[list[AnyEvent]]:
        if self._use_chat(request):
            async for batch in self._chat_stream(request):
                yield batch
            return
        received = False
        try:
            async for batch in super().stream(request):
                received = True
                yield batch
            return
        except PipeError as error:
            plan = None if received else self._plan_b(request, error)
            if plan is None:
                raise
        retry = self._chat_stream(request) if plan == "chat" else self.stream(plan)  # type: ignore[arg-type]
        async for batch in retry:
            yield batch

    # ------------------------------------------------------------------ /chat/completions

    async def _chat_create(self, request: ResponsesRequest) -> ResponseObject:
        try:
            response = await self._client.post(
                self._chat_url,
                content=orjson.dumps(chat_body(request)),
                headers=self._config.headers(streaming=False),
                timeout=self._config.timeout,
            )
        except httpx.HTTPError as exc:
            raise httpx_failure(exc, started=False) from exc
        if response.status_code != 200:
            raise error_from_http(
                response.status_code, _error_body(response.content), dict(response.headers)
            )
        if _media(response.headers) not in ("application/json", ""):
            raise not_an_answer(response.headers, "OpenRouter's JSON")
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise PipeError(
                ErrorKind.SERVER, "OpenRouter returned an unreadable response"
            ) from None
        if not isinstance(payload, dict):
            raise PipeError(ErrorKind.SERVER, "OpenRouter returned an unreadable response")
        return ResponseObject.model_validate(completion_to_response(payload))

    async def _chat_stream(self, request: ResponsesRequest) -> AsyncIterator[list[AnyEvent]]:
        adapter = ChatStreamAdapter()
        done = False
        error: dict[str, object] | None = None
        timeouts = StreamTimeouts(self._config.connect_timeout, self._config.read_timeout)
        body = orjson.dumps(chat_body(request))
        headers = self._config.headers(streaming=True)
        try:
            async with self._streams.open(self._chat_url, body, headers, timeouts) as raw:
                if raw.status != 200:
                    raise error_from_http(raw.status, _error_body(await raw.body()), raw.headers)
                if _media(raw.headers) not in ("text/event-stream", ""):
                    raise not_an_answer(raw.headers, "an event stream")
                decoder = SSEDecoder()
                while chunk := await raw.read_buffered():
                    events: list[dict[str, object]] = []
                    for data in decoder.feed(chunk):
                        if data == "[DONE]":
                            done = True
                            break
                        parsed = orjson.loads(data)
                        events.extend(adapter.feed(parsed if isinstance(parsed, dict) else {}))
                    error = next((e for e in events if e.get("type") == "error"), error)
                    if done and error is None:
                        events.extend(adapter.finish())
                    if events:
                        yield [decode_event(orjson.dumps(e)) for e in events]
                    if done:
                        await _drain(raw)
                        break
        except orjson.JSONDecodeError as exc:
            raise PipeError(ErrorKind.MALFORMED_STREAM, "a chat chunk is not JSON") from exc
        if error is not None:
            code = error.get("code")
            raise error_from_stream(
                code if isinstance(code, str | int) else None, str(error.get("message") or "error")
            )
        if not done:
            raise PipeError(
                ErrorKind.STREAM_CUT, "the stream ended before the response was complete"
            )
