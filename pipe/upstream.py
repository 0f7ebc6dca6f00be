"""HTTP to OpenRouter's `/responses`: one POST per attempt, SSE decoded incrementally.

`ResponsesClient.stream` yields the typed events of each network read as one batch (so the
output side can coalesce what arrived together without ever waiting for more). Transport and
HTTP failures become `PipeError`s; a stream that ends without a terminal event is an error.
Retry decisions are taken by the caller (only it knows whether the user saw output yet), with
`retry_delay` below.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import httpx
import orjson

from .errors import ErrorKind, PipeError, error_from_http, error_from_stream
from .logs import get_logger
from .sessionlog import AttemptObserver
from .sse import SSEDecoder
from .stream_events import AnyEvent, DecodedRead, ErrorEvent, EventDecodeError
from .streamio import HttpxOpener, RawStream, StreamOpener, StreamTimeouts, httpx_failure
from .valve_checks import header_safe
from .wire import ResponseObject, ResponsesRequest


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


# The model list is one JSON document: a read that stalls this long is a hung server.
CATALOG_READ_TIMEOUT_CAP = 30.0


def catalog_timeout(connect: float, read: float) -> httpx.Timeout:
    read = min(read, CATALOG_READ_TIMEOUT_CAP)
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


# A stream that sends only keep-alive comments for this many read timeouts is ended.
STALL_FACTOR = 2
DRAIN_MAX_BYTES = 65536
HOLD_MIN_READ_TIMEOUT = 3.0
DRAIN_MAX_SECONDS = 2.0


def attribution_headers(referer: str, title: str) -> dict[str, str]:
    """The app attribution headers. A value that cannot be a header (a valve stored before
    the valve checks) is left out with a warning instead of failing every request."""
    headers = {}
    referer, title = referer.strip(), title.strip()
    for name, value in (("HTTP_REFERER", referer), ("APP_TITLE", title)):
        if value and not header_safe(value):
            get_logger().warning("%s is not printable ASCII; the header is not sent", name)
    if referer and header_safe(referer):
        headers["HTTP-Referer"] = referer
    if title and header_safe(title):
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


def _with_generation(error: PipeError, generation: str) -> PipeError:
    if generation:
        error.details.setdefault("generation_id", generation)
    return error


def _error_body(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")[:500]


async def _drain(raw: RawStream) -> None:
    """After `[DONE]`, read the body to its end (normally just the chunked encoding's last
    chunk) so the connection goes back to the pool; a server that keeps sending past these
    bounds is cut off (the connection is then closed, not reused)."""
    received = 0
    try:
        async with asyncio.timeout(DRAIN_MAX_SECONDS):
            while chunk := await raw.read_buffered():
                received += len(chunk)
                if received > DRAIN_MAX_BYTES:
                    return
    except (TimeoutError, PipeError):
        return


def request_body(request: ResponsesRequest) -> bytes:
    """The JSON to send. Text that cannot be UTF-8 (a lone surrogate such as `"\\ud800"`,
    which JSON escapes allow) is refused before any call."""
    try:
        return request.to_json()
    except orjson.JSONEncodeError as exc:
        raise PipeError(
            ErrorKind.INVALID_REQUEST,
            "The chat contains text that is not valid Unicode (an unpaired surrogate "
            "such as \\ud800).",
            retryable=False,
        ) from exc


def not_an_answer(headers: Mapping[str, str], expected: str) -> PipeError:
    """A 200 whose body is not what was asked for (e.g. a proxy's or portal's HTML page)."""
    media = _media(headers) or "no content type"
    return PipeError(
        ErrorKind.NOT_AN_ANSWER,
        f"The server answered HTTP 200 with {media} instead of {expected}.",
        retryable=False,
    )


def _media(headers: Mapping[str, str]) -> str:
    value: str = headers.get("content-type", "")
    return value.split(";")[0].strip().lower()


class ResponsesClient:
    """`create` posts with the runtime's httpx client; `stream` opens the streaming call
    through `streams` (aiohttp in production, see streamio.py)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        config: UpstreamConfig,
        streams: StreamOpener | None = None,
    ) -> None:
        self._client = client
        self._config = config
        self._streams: StreamOpener = streams or HttpxOpener(client)
        self._url = config.base_url.rstrip("/") + "/responses"

    async def create(self, request: ResponsesRequest) -> ResponseObject:
        """Non-streaming call; the result whatever its status (`failed` included, with the
        output and usage produced so far): the caller reads it as a one-batch stream."""
        body = request_body(request)
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
            raise httpx_failure(exc, started=False) from exc
        if observer is not None:
            observer.response(response.status_code, response.headers.get("x-generation-id", ""))
            observer.body(_error_body(response.content))
        if response.status_code != 200:
            raise error_from_http(
                response.status_code, _error_body(response.content), dict(response.headers)
            )
        if _media(response.headers) not in ("application/json", ""):
            raise not_an_answer(response.headers, "OpenRouter's JSON")
        try:
            result = ResponseObject.model_validate(orjson.loads(response.content))
        except (orjson.JSONDecodeError, ValueError) as exc:
            raise PipeError(ErrorKind.SERVER, "OpenRouter returned an unreadable response") from exc
        return result

    def stream(self, request: ResponsesRequest) -> AsyncIterator[list[AnyEvent]]:
        """Typed events, one batch per read of everything received so far, until the
        terminal event or [DONE]; the caller decides how often to read (pump.py). With
        session logs or telemetry on, the attempt is observed (pipe/sessionlog.py)."""
        get_logger().debug("POST %s (model %s, streaming)", self._url, request.model)
        body = request_body(request)
        if not AttemptObserver.wanted():  # no wrapping generator: one layer fewer per read
            return self._stream(body, None)
        return self._observed(body)

    async def _observed(self, body: bytes) -> AsyncIterator[list[AnyEvent]]:
        # Started on the first read, like the call itself: a stream dropped before it began
        # leaves no attempt (or telemetry span) open.
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
        terminal = False
        last_error: ErrorEvent | None = None
        generation = ""
        timeouts = StreamTimeouts(self._config.connect_timeout, self._config.read_timeout)
        headers = self._config.headers(streaming=True)
        try:
            async with self._streams.open(self._url, body, headers, timeouts) as raw:
                generation = raw.headers.get("x-generation-id", "")
                if observer is not None:
                    observer.response(raw.status, generation)
                if raw.status != 200:
                    error_body = _error_body(await raw.body())
                    if observer is not None:
                        observer.body(error_body)
                    raise error_from_http(raw.status, error_body, raw.headers)
                if _media(raw.headers) not in ("text/event-stream", ""):
                    raise not_an_answer(raw.headers, "an event stream")
                decoder = SSEDecoder()
                shown = False
                # A held socket is not read, so its read timeout may run out while data waits
                # in the kernel: hold only when the timeout is well above any window (1 s).
                hold = self._config.read_timeout >= HOLD_MIN_READ_TIMEOUT
                stall_limit = STALL_FACTOR * self._config.read_timeout
                last_event = time.monotonic()
                while chunk := await raw.read_buffered():
                    if observer is not None:
                        observer.chunk(chunk)
                    read = DecodedRead(decoder.feed(chunk))
                    batch = read.events
                    terminal = terminal or read.terminal
                    last_error = read.error or last_error
                    if batch:
                        last_event = time.monotonic()
                        if hold and (shown or read.has_delta):
                            # Text is out: from now on the pump reads once per coalescing
                            # window, so let the kernel collect the window's events.
                            shown = True
                            raw.hold()
                        yield batch
                    if read.corrupt is not None:  # the events before it went out first
                        raise read.corrupt
                    if not batch and time.monotonic() - last_event > stall_limit:
                        # Keep-alive comments only: alive, but not answering. End it.
                        raise PipeError(
                            ErrorKind.READ_TIMEOUT,
                            f"only keep-alives from OpenRouter for over {stall_limit:g}s",
                        )
                    if read.done:
                        await _drain(raw)
                        break
                else:
                    read = DecodedRead(decoder.flush())  # a last event without its blank line
                    terminal = terminal or read.terminal
                    last_error = read.error or last_error
                    if read.events:
                        yield read.events
                    if read.corrupt is not None:
                        raise read.corrupt
        except PipeError as failure:
            raise _with_generation(failure, generation) from failure.__cause__
        except EventDecodeError as exc:
            # No local names the raised error: a frame in its own traceback holding it would
            # be a reference cycle, kept alive until the cyclic GC runs.
            raise _with_generation(
                PipeError(ErrorKind.MALFORMED_STREAM, str(exc), retryable=True), generation
            ) from exc
        if not terminal:
            if last_error is not None:
                code, text = last_error.resolved()
                raise _with_generation(error_from_stream(code, text), generation)
            raise _with_generation(
                PipeError(
                    ErrorKind.STREAM_CUT, "the stream ended before the response was complete"
                ),
                generation,
            )
