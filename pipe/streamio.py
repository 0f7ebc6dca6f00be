"""The streaming POST to OpenRouter, behind one small interface: an opened `RawStream` gives
the status, the headers, the error body, and then the body in reads of *everything already
received* (`read_buffered`), which is what lets the reader wake once per coalescing window
instead of once per upstream event.

Production streams with aiohttp (it ships with Open WebUI): its C parser hands over the whole
receive buffer in one call, where httpx/h11 hand out one item per HTTP chunk (the upstream
writes one chunk per event), about 3x the CPU per event. Tests that swap the upstream with an
httpx transport (`Pipe(transport=...)`) get the same interface over httpx, which takes the
items that are already parsed without waiting for the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import httpx

from .errors import ErrorKind, PipeError


@dataclass(frozen=True)
class StreamTimeouts:
    connect: float
    read: float


class RawStream(Protocol):
    status: int
    headers: dict[str, str]  # lower-case names

    async def body(self) -> bytes:
        """The whole (error) body."""
        ...

    async def read_buffered(self) -> bytes:
        """Everything received and not yet read; waits only when nothing is; b"" at the end."""
        ...

    def hold(self) -> None:
        """Leave what arrives in the kernel's socket buffer until the next `read_buffered`
        (which then gets it in one read), instead of waking the event loop per packet."""
        ...


class StreamOpener(Protocol):
    def open(
        self, url: str, body: bytes, headers: dict[str, str], timeouts: StreamTimeouts
    ) -> contextlib.AbstractAsyncContextManager[RawStream]: ...

    async def aclose(self) -> None: ...


def transport_failure(kind: str, name: str, started: bool) -> PipeError:
    """The user-facing error for a transport failure of either client."""
    if kind == "connect_timeout":
        return PipeError(ErrorKind.CONNECT_TIMEOUT, f"connecting to OpenRouter timed out ({name})")
    if kind == "read_timeout":
        return PipeError(
            ErrorKind.READ_TIMEOUT, f"no data from OpenRouter within the read timeout ({name})"
        )
    if kind == "connect":
        return PipeError(ErrorKind.CONNECTION, f"cannot connect to OpenRouter ({name})")
    if started:
        return PipeError(ErrorKind.STREAM_CUT, f"the connection broke during the answer ({name})")
    return PipeError(ErrorKind.CONNECTION, f"request to OpenRouter failed ({name})")


# First match wins (aiohttp's connect timeout is also a TimeoutError).
_HTTPX_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (httpx.ConnectTimeout, "connect_timeout"),
    (httpx.PoolTimeout, "connect_timeout"),
    (httpx.ReadTimeout, "read_timeout"),
    (httpx.ConnectError, "connect"),
)
_AIOHTTP_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (aiohttp.ConnectionTimeoutError, "connect_timeout"),
    (aiohttp.SocketTimeoutError, "read_timeout"),
    (TimeoutError, "read_timeout"),
    (aiohttp.ClientConnectorError, "connect"),
)


def httpx_failure(exc: httpx.HTTPError, started: bool) -> PipeError:
    kind = next((k for t, k in _HTTPX_KINDS if isinstance(exc, t)), "other")
    return transport_failure(kind, type(exc).__name__, started)


def aiohttp_failure(exc: BaseException, started: bool) -> PipeError:
    kind = next((k for t, k in _AIOHTTP_KINDS if isinstance(exc, t)), "other")
    return transport_failure(kind, type(exc).__name__, started)


# ---------------------------------------------------------------- aiohttp (production)


class _AiohttpStream:
    __slots__ = ("_content", "_held", "_response", "_transport", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._content = response.content
        connection = response.connection
        self._transport = connection.transport if connection is not None else None
        self._held = False
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    def hold(self) -> None:
        # The transport stops polling the socket (the HTTP parser is left alone); the kernel
        # keeps receiving, up to its buffer, then TCP flow control slows the sender.
        transport = self._transport
        if not self._held and transport is not None and transport.is_reading():
            transport.pause_reading()
            self._held = True

    def _release_hold(self) -> None:
        if self._held:
            self._held = False
            transport = self._transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()

    def finish(self) -> None:
        self._release_hold()
        if self._content.at_eof():
            self._response.release()  # read to its end: the connection goes back to the pool
        else:
            self._response.close()  # cut or abandoned: drop the connection at once

    async def body(self) -> bytes:
        try:
            return await self._response.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise aiohttp_failure(exc, started=False) from exc

    async def read_buffered(self) -> bytes:
        self._release_hold()
        try:
            return await self._content.readany()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise aiohttp_failure(exc, started=True) from exc


class AiohttpOpener:
    """One aiohttp session per runtime (event loop): a pooled, keep-alive connection set."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}

    def _proxy(self, url: str) -> str | None:
        """HTTP(S)_PROXY / NO_PROXY from the environment, looked up once per URL."""
        if url not in self._proxies:
            parts = urllib.parse.urlsplit(url)
            proxies = urllib.request.getproxies_environment()
            bypass = urllib.request.proxy_bypass(parts.hostname or "")
            self._proxies[url] = None if bypass else proxies.get(parts.scheme)
        return self._proxies[url]

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No connection cap: admission control bounds the streams (see runtime.py).
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
            # trust_env=False: with it aiohttp would look up ~/.netrc in a thread per request;
            # the environment's proxy settings are honoured below instead (as httpx does).
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, trust_env=False
            )
        return self._session

    def open(
        self, url: str, body: bytes, headers: dict[str, str], timeouts: StreamTimeouts
    ) -> _AiohttpCall:
        return _AiohttpCall(self, url, body, headers, timeouts)

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], timeouts: StreamTimeouts
    ) -> aiohttp.ClientResponse:
        timeout = aiohttp.ClientTimeout(
            total=None, connect=timeouts.connect, sock_read=timeouts.read
        )
        try:
            return await self._get_session().post(
                url,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                proxy=self._proxy(url),
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise aiohttp_failure(exc, started=False) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _AiohttpCall:
    """`async with opener.open(...) as stream`: the POST on entry; on exit the connection goes
    back to the pool when the answer was read to its end, else it is dropped at once. A plain
    object rather than a generator-based context manager: fewer objects per request."""

    __slots__ = ("_args", "_opener", "_stream")

    def __init__(
        self,
        opener: AiohttpOpener,
        url: str,
        body: bytes,
        headers: dict[str, str],
        timeouts: StreamTimeouts,
    ) -> None:
        self._opener = opener
        self._args = (url, body, headers, timeouts)
        self._stream: _AiohttpStream | None = None

    async def __aenter__(self) -> RawStream:
        response = await self._opener.post(*self._args)
        self._stream = _AiohttpStream(response)
        return self._stream

    async def __aexit__(self, *exc_info: object) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.finish()


# ---------------------------------------------------------------- httpx (test transports)


class _HttpxStream:
    __slots__ = ("_items", "_pending", "_response", "headers", "status")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._items = response.aiter_bytes().__aiter__()
        self._pending: asyncio.Future[bytes] | None = None
        self.status = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def body(self) -> bytes:
        try:
            return await self._response.aread()
        except httpx.HTTPError as exc:
            raise httpx_failure(exc, started=False) from exc

    def hold(self) -> None:
        pass  # httpx reads only when asked

    async def read_buffered(self) -> bytes:
        """Wait for one item, then take those that are ready after one loop turn (httpx
        hands out one item per HTTP chunk even when one network read brought many)."""
        parts = [await self._next()]
        if not parts[0]:
            return b""
        while True:
            nxt = asyncio.ensure_future(self._next())
            await asyncio.sleep(0)
            if not nxt.done():
                self._pending = nxt
                break
            data = nxt.result()
            if not data:
                self._pending = nxt  # end of stream: seen again by the next call
                break
            parts.append(data)
        return b"".join(parts)

    async def _next(self) -> bytes:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            return await pending
        try:
            return await self._items.__anext__()
        except StopAsyncIteration:
            return b""
        except httpx.HTTPError as exc:
            raise httpx_failure(exc, started=True) from exc

    async def aclose(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(BaseException):
                await self._pending
            self._pending = None


class HttpxOpener:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    @contextlib.asynccontextmanager
    async def open(
        self, url: str, body: bytes, headers: dict[str, str], timeouts: StreamTimeouts
    ) -> AsyncIterator[RawStream]:
        timeout = httpx.Timeout(
            connect=timeouts.connect, read=timeouts.read, write=30.0, pool=timeouts.connect
        )
        request = self._client.build_request(
            "POST", url, content=body, headers=headers, timeout=timeout
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise httpx_failure(exc, started=False) from exc
        stream = _HttpxStream(response)
        try:
            yield stream
        finally:
            await stream.aclose()
            await response.aclose()

    async def aclose(self) -> None:
        pass  # the client belongs to the runtime
