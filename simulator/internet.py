"""A small loopback "internet" for the pipe's downloader: good images and documents, and
hostile answers (a redirect to 127.0.0.1, oversize bodies with and without Content-Length, a
slow drip, the wrong content type, a flaky 503 with Retry-After).

It listens on 127.0.0.2 by default, so a test can allow exactly that address
(FETCH_ALLOWED_NETWORKS=127.0.0.2/32) while 127.0.0.1 stays forbidden.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from simulator.net import LoopbackServer

# A 1x1 red PNG and a tiny valid PDF: real bytes a model could read.
RED_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)
TINY_PDF = (
    b"%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
BIG = 64 * 1024 * 1024  # what the oversize routes claim or send


def create_app() -> Starlette:
    hits: dict[str, int] = {}

    async def red(_: Request) -> Response:
        return Response(RED_PNG, media_type="image/png")

    async def jpg_alias(_: Request) -> Response:
        return Response(RED_PNG, headers={"Content-Type": "image/jpg"})

    async def pdf(_: Request) -> Response:
        return Response(TINY_PDF, media_type="application/pdf")

    async def html(_: Request) -> Response:
        return Response("<html>not an image</html>", media_type="text/html")

    async def redirect_local(request: Request) -> Response:
        port = request.query_params.get("port", "80")
        return RedirectResponse(f"http://127.0.0.1:{port}/img/red.png", status_code=302)

    async def redirect_ok(_: Request) -> Response:
        return RedirectResponse("/img/red.png", status_code=302)

    async def declared_big(_: Request) -> Response:
        return StreamingResponse(
            _forever(b"\0" * 65536), media_type="image/png", headers={"Content-Length": str(BIG)}
        )

    async def chunked_big(_: Request) -> Response:
        return StreamingResponse(_forever(b"\0" * 65536), media_type="image/png")

    async def drip(_: Request) -> Response:
        return StreamingResponse(_drip(), media_type="image/png")

    async def flaky(request: Request) -> Response:
        key = request.query_params.get("key", "default")
        hits[key] = hits.get(key, 0) + 1
        if hits[key] <= int(request.query_params.get("fail", "1")):
            return Response("busy", status_code=503, headers={"Retry-After": "0"})
        return Response(RED_PNG, media_type="image/png")

    routes = [
        Route("/img/red.png", red),
        Route("/img/photo.jpg", jpg_alias),
        Route("/doc/report.pdf", pdf),
        Route("/page.html", html),
        Route("/redirect/local", redirect_local),
        Route("/redirect/ok", redirect_ok),
        Route("/big/declared.png", declared_big),
        Route("/big/chunked.png", chunked_big),
        Route("/slow.png", drip),
        Route("/flaky.png", flaky),
    ]
    return Starlette(routes=routes)


async def _forever(block: bytes) -> AsyncIterator[bytes]:
    for _ in range(BIG // len(block)):
        yield block
        await asyncio.sleep(0)


async def _drip() -> AsyncIterator[bytes]:
    yield RED_PNG[:8]
    for _ in range(600):
        await asyncio.sleep(0.1)
        yield b"\0"


class Internet:
    """`with Internet() as net: net.url("/img/red.png")`."""

    def __init__(self, host: str = "127.0.0.2", **uvicorn_options: Any) -> None:
        self._server = LoopbackServer(create_app(), host, 0, lifespan="off", **uvicorn_options)
        self.host = host
        self.scheme = "https" if "ssl_certfile" in uvicorn_options else "http"

    @property
    def port(self) -> int:
        return self._server.port

    def url(self, path: str, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    def start(self) -> Internet:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Internet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
