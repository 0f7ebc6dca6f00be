"""HTTP to OpenRouter's `/responses`: one POST per attempt, SSE decoded incrementally.

`ResponsesClient.stream` yields the typed events of each network read as one batch (so the
output side can coalesce what arrived together without ever waiting for more). Transport and
HTTP failures become `PipeError`s; a stream that ends without a terminal event is an error.
Retry decisions are taken by the caller (only it knows whether the user saw output yet), with
`retry_delay` below.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import orjson

from .errors import ErrorKind, PipeError, error_from_http, error_from_stream
from .logs import get_logger
from .sessionlog import AttemptObserver
from .sse import SSEDecoder
from .wire import (
    TERMINAL_EVENTS,
    AnyEvent,
    ErrorEvent,
    EventDecodeError,
    ResponseObject,
    ResponsesRequest,
    decode_event,
)


@dataclass(frozen=True)
class UpstreamConfig:
    base_url: str
    api_key: str
    attribution: dict[str, str] = field(default_factory=dict)
    connect_timeout: float = 10.0
    read_timeout: float = 300.0

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=30.0,
            pool=self.connect_timeout,
        )

    def headers(self, streaming: bool) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if streaming else "application/json",
        }
        headers.update(self.attribution)
        return headers


# A stream that sends only keep-alive comments for this many read timeouts is ended.
STALL_FACTOR = 2


def attribution_headers(referer: str, title: str) -> dict[str, str]:
    headers = {}
    if referer:
        headers["HTTP-Referer"] = referer
    if title:
        headers["X-OpenRouter-Title"] = title
        headers["X-Title"] = title  # still accepted; older gateways only know this one
    return headers


def retry_delay(attempt: int, error: PipeError, base: float, max_wait: float) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None when the error must be shown.

    `Retry-After` wins over the backoff; if it asks for longer than `max_wait` we stop and let
    the user see the error (with the retry-after in it) rather than hold the request."""
    if not error.retryable:
        return None
    if error.retry_after is not None:
        return error.retry_after if error.retry_after <= max_wait else None
    delay = base * (2.0**attempt)
    return min(max_wait, delay * (1 + random.random() * 0.25))


def _transport_error(exc: httpx.HTTPError, started: bool) -> PipeError:
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return PipeError(ErrorKind.CONNECT_TIMEOUT, f"connecting to OpenRouter timed out ({name})")
    if isinstance(exc, httpx.ReadTimeout):
        return PipeError(
            ErrorKind.READ_TIMEOUT, f"no data from OpenRouter within the read timeout ({name})"
        )
    if isinstance(exc, httpx.ConnectError):
        return PipeError(ErrorKind.CONNECTION, f"cannot connect to OpenRouter ({name})")
    if started:
        return PipeError(ErrorKind.STREAM_CUT, f"the connection broke during the answer ({name})")
    return PipeError(ErrorKind.CONNECTION, f"request to OpenRouter failed ({name})")


def _with_generation(error: PipeError, generation: str) -> PipeError:
    if generation:
        error.details.setdefault("generation_id", generation)
    return error


async def _error_body(response: httpx.Response) -> object:
    raw = await response.aread()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")[:500]


class ResponsesClient:
    def __init__(self, client: httpx.AsyncClient, config: UpstreamConfig) -> None:
        self._client = client
        self._config = config
        self._url = config.base_url.rstrip("/") + "/responses"

    async def create(self, request: ResponsesRequest) -> ResponseObject:
        """Non-streaming call; the result whatever its status (`failed` included, with the
        output and usage produced so far): the caller reads it as a one-batch stream."""
        body = request.to_json()
        observer = AttemptObserver.start(self._url, body)
        try:
            return await self._create(body, observer)
        except PipeError as error:
            if observer is not None:
                observer.failed(f"{error.kind.value}: {error.message}")
            raise
        finally:
            if observer is not None:
                observer.done()

    async def _create(self, body: bytes, observer: AttemptObserver | None) -> ResponseObject:
        try:
            response = await self._client.post(
                self._url,
                content=body,
                headers=self._config.headers(streaming=False),
                timeout=self._config.timeout,
            )
        except httpx.HTTPError as exc:
            raise _transport_error(exc, started=False) from exc
        if observer is not None:
            observer.response(response.status_code, response.headers.get("x-generation-id", ""))
            observer.body(await _error_body(response))
        if response.status_code != 200:
            raise error_from_http(
                response.status_code, await _error_body(response), dict(response.headers)
            )
        try:
            result = ResponseObject.model_validate(orjson.loads(response.content))
        except (orjson.JSONDecodeError, ValueError) as exc:
            raise PipeError(ErrorKind.SERVER, "OpenRouter returned an unreadable response") from exc
        return result

    async def stream(self, request: ResponsesRequest) -> AsyncIterator[list[AnyEvent]]:
        """Typed events, one batch per network read, until the terminal event or [DONE].
        With session logs or telemetry on, the attempt is observed (pipe/sessionlog.py)."""
        get_logger().debug("POST %s (model %s, streaming)", self._url, request.model)
        body = request.to_json()
        observer = AttemptObserver.start(self._url, body)
        if observer is None:
            async for batch in self._stream(body, None):
                yield batch
            return
        try:
            async for batch in self._stream(body, observer):
                yield batch
        except PipeError as error:
            observer.failed(f"{error.kind.value}: {error.message}")
            raise
        finally:
            observer.done()

    async def _stream(
        self, body: bytes, observer: AttemptObserver | None
    ) -> AsyncIterator[list[AnyEvent]]:
        started = False
        terminal = False
        last_error: ErrorEvent | None = None
        generation = ""
        try:
            async with self._client.stream(
                "POST",
                self._url,
                content=body,
                headers=self._config.headers(streaming=True),
                timeout=self._config.timeout,
            ) as response:
                generation = response.headers.get("x-generation-id", "")
                if observer is not None:
                    observer.response(response.status_code, generation)
                if response.status_code != 200:
                    error_body = await _error_body(response)
                    if observer is not None:
                        observer.body(error_body)
                    raise error_from_http(response.status_code, error_body, dict(response.headers))
                started = True
                decoder = SSEDecoder()
                done = False
                stall_limit = STALL_FACTOR * self._config.read_timeout
                last_event = time.monotonic()
                chunks = response.aiter_bytes()
                async for chunk in chunks:
                    if observer is not None:
                        observer.chunk(chunk)
                    batch: list[AnyEvent] = []
                    for message in decoder.feed(chunk):
                        if message.data == "[DONE]":
                            done = True
                            break
                        event = decode_event(message.data)
                        if event.type in TERMINAL_EVENTS:
                            terminal = True
                        elif isinstance(event, ErrorEvent):
                            last_error = event
                        batch.append(event)
                    if batch:
                        last_event = time.monotonic()
                        yield batch
                    elif time.monotonic() - last_event > stall_limit:
                        # Keep-alive comments only: alive, but not answering. End it.
                        raise PipeError(
                            ErrorKind.READ_TIMEOUT,
                            f"only keep-alives from OpenRouter for over {stall_limit:g}s",
                        )
                    if done:
                        break
                else:
                    batch = []
                    for message in decoder.flush():
                        if message.data != "[DONE]":
                            event = decode_event(message.data)
                            terminal = terminal or event.type in TERMINAL_EVENTS
                            batch.append(event)
                    if batch:
                        yield batch
        except httpx.HTTPError as exc:
            raise _with_generation(_transport_error(exc, started), generation) from exc
        except EventDecodeError as exc:
            error = PipeError(ErrorKind.MALFORMED_STREAM, str(exc), retryable=True)
            raise _with_generation(error, generation) from exc
        if not terminal:
            if last_error is not None:
                code, text = last_error.resolved()
                raise _with_generation(error_from_stream(code, text), generation)
            cut = PipeError(
                ErrorKind.STREAM_CUT, "the stream ended before the response was complete"
            )
            raise _with_generation(cut, generation)
