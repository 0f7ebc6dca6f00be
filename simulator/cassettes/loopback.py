"""Serve any ASGI app with uvicorn on loopback, from a background thread or in the foreground.

Port 0 picks a free port; the bound address is read back from the listening socket.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import uvicorn


def _config(app: Any, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="auto"
    )


def bound_port(server: uvicorn.Server) -> int:
    return server.servers[0].sockets[0].getsockname()[1]


class LoopbackServer:
    """`with LoopbackServer(app) as srv: srv.url` - uvicorn in a daemon thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.server = uvicorn.Server(_config(app, host, port))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(target=self.server.run, daemon=True, name="loopback")
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"server on {self.host} failed to start")
            threading.Event().wait(0.005)
        self.port = bound_port(self.server)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_foreground(
    app: Any, host: str, port: int, on_ready: Callable[[int], None] | None = None
) -> None:
    """Run until interrupted; `on_ready(port)` is called once the socket is bound."""
    server = uvicorn.Server(_config(app, host, port))

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.01)
        if on_ready is not None:
            on_ready(bound_port(server))
        await task

    asyncio.run(main())
