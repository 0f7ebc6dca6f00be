"""The recording proxy: an ASGI app that forwards to an upstream and writes a cassette.

Clients point their base URL at the proxy with the upstream's path (e.g.
`http://127.0.0.1:PORT/api/v1`). Each request is forwarded with httpx; the response streams back
to the client chunk by chunk as it arrives, and each chunk is recorded with its time offset from
the request start. When an interaction completes it is appended to the cassette, which is
rewritten atomically, so the file is valid after every interaction. Secrets are redacted before
anything is written (see redact.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from simulator.cassettes.format import (
    Cassette,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    load_cassette,
    save_cassette,
    stream_response,
)
from simulator.cassettes.redact import Redactor, scrub, scrub_chunks, secret_values

DEFAULT_UPSTREAM = "https://openrouter.ai/api/v1"
# Never forwarded upstream: the proxy owns its own connection and asks for identity encoding
# so the recorded bytes are the bytes on the wire.
_DROP_REQUEST = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}
_DROP_RESPONSE = {"content-length", "transfer-encoding", "connection", "content-encoding"}


def _json_or_text(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", errors="replace")


class RecordingProxy:
    def __init__(
        self,
        upstream: str,
        out: str | Path,
        *,
        redact_fields: tuple[str, ...] = (),
        redact_values: tuple[str, ...] = (),
        name: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 600.0,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        parts = urlsplit(self.upstream)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"--upstream must be an http(s) URL, got {upstream!r}")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.prefix = parts.path
        self.out = Path(out)
        self.redactor = Redactor(redact_fields, redact_values)
        self._transport = transport
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()
        if self.out.exists():
            self.cassette = load_cassette(self.out)  # update: new interactions are appended
        else:
            self.cassette = Cassette(
                name=name or self.out.stem,
                description=f"Recorded through `orsim record` from {self.upstream}.",
                synthesised=False,
                recorded_at=datetime.now(UTC).isoformat(timespec="seconds"),
                source=self.upstream,
            )
            save_cassette(self.cassette, self.out)

    def upstream_url(self, path: str) -> str:
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            return self.origin + path
        return self.upstream + path

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport, timeout=self._timeout, follow_redirects=False
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._proxy(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _proxy(self, scope: dict, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if scope.get("query_string"):
            path += "?" + scope["query_string"].decode("latin-1")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        forward = [(k, v) for k, v in headers if k.lower() not in _DROP_REQUEST]
        forward.append(("accept-encoding", "identity"))
        started = time.perf_counter()
        request = self.client.build_request(
            scope["method"], self.upstream_url(path), headers=forward, content=body
        )
        try:
            upstream = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            await _error(send, 502, f"recording proxy: upstream request failed: {exc!r}")
            return
        headers_offset = time.perf_counter() - started
        out_headers = [(k, v) for k, v in upstream.headers.items() if k not in _DROP_RESPONSE]
        chunks: list[tuple[float, bytes]] = []
        recorded = False

        async def record() -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                await self._append(
                    scope["method"],
                    path,
                    headers,
                    body,
                    upstream,
                    out_headers,
                    chunks,
                    headers_offset,
                )

        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": upstream.status_code,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out_headers],
                }
            )
            async for piece in upstream.aiter_raw():
                chunks.append((time.perf_counter() - started, piece))
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            # Written before the client sees the end, so a finished exchange is always on disk.
            await record()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await upstream.aclose()
            await record()  # a client that went away mid-stream still leaves its partial record

    async def _append(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        upstream: httpx.Response,
        out_headers: list[tuple[str, str]],
        chunks: list[tuple[float, bytes]],
        headers_offset: float,
    ) -> None:
        redact = self.redactor
        parsed_body = _json_or_text(body)
        # Secret values seen in the request are also scrubbed from everything else (an error
        # message or a chunk that echoes the key never reaches the file either).
        secrets = secret_values(headers, path, parsed_body, redact.body_fields) | redact.values
        request = RecordedRequest(
            method=method,
            path=scrub(redact.path(path), secrets),
            headers={k.lower(): scrub(v, secrets) for k, v in redact.headers(headers)},
            body=scrub(redact.body(parsed_body), secrets),
        )
        response_headers = scrub(redact.headers(out_headers), secrets)
        content_type = upstream.headers.get("content-type", "")
        raw = b"".join(piece for _, piece in chunks)
        parsed = _json_or_text(raw) if "event-stream" not in content_type else None
        if isinstance(parsed, dict | list):
            response = RecordedResponse(
                status=upstream.status_code,
                headers=response_headers,
                headers_offset=round(headers_offset, 6),
                body=scrub(redact.body(parsed), secrets),
                body_offset=round(chunks[-1][0], 6) if chunks else round(headers_offset, 6),
            )
        else:  # SSE, or a body that is not JSON: keep the raw chunks, scrubbed as one stream
            scrubbed = scrub_chunks([piece for _, piece in chunks], secrets)
            response = stream_response(
                upstream.status_code,
                response_headers,
                [(offset, piece) for (offset, _), piece in zip(chunks, scrubbed, strict=True)],
                headers_offset=headers_offset,
            )
        async with self._lock:
            self.cassette.interactions.append(Interaction(request=request, response=response))
            save_cassette(self.cassette, self.out)


async def _error(send: Any, status: int, message: str) -> None:
    payload = json.dumps({"error": {"code": status, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})


def run_record(
    upstream: str,
    out: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    redact_fields: tuple[str, ...] = (),
    echo: Any = print,
    redact_values: tuple[str, ...] = (),
) -> int:
    """`orsim record`: serve the proxy in the foreground until interrupted."""
    from simulator.net import serve_foreground

    try:
        proxy = RecordingProxy(
            upstream, out, redact_fields=redact_fields, redact_values=redact_values
        )
    except ValueError as exc:  # bad URL, bad redaction path or an unreadable existing cassette
        echo(f"record: {exc}")
        return 2
    prefix = proxy.prefix or ""

    def ready(actual: int) -> None:
        echo(f"recording {upstream} -> {proxy.out}")
        echo(f"point your client's base URL at http://{host}:{actual}{prefix}")

    serve_foreground(proxy, host, port, ready)
    return 0
