"""Serve ASGI apps with uvicorn on loopback: from a background thread or in the foreground.

Port 0 picks a free port; the bound port is read back from the listening socket.

Listening sockets are created with `proto=IPPROTO_TCP`: asyncio only sets TCP_NODELAY on
accepted connections whose socket says so, and without it every response on a reused
keep-alive connection stalls ~40 ms (Nagle against the client's delayed ACK).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn


def bind_tcp(host: str, port: int, *, inheritable: bool = False) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(inheritable)
    return sock


def _config(app: Any, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = {"log_level": "warning", "access_log": False, "lifespan": "auto"}
    options.update(overrides)
    return uvicorn.Config(app, **options)


def _count_connections(config: uvicorn.Config, server: LoopbackServer) -> None:
    """Wrap the HTTP protocol class so every accepted connection is counted."""
    config.load()
    base = config.http_protocol_class

    class Counted(base):  # type: ignore[valid-type, misc]
        def connection_made(self, transport: Any) -> None:
            server.connections_opened += 1
            super().connection_made(transport)

    config.http_protocol_class = Counted


class LoopbackServer:
    """`with LoopbackServer(app) as srv: srv.url` - uvicorn in a daemon thread.

    `connections_opened` counts accepted TCP connections; `live_connections` is how many are
    open now (busy or idle keep-alive): what tests of connection reuse and of closing count."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: Any):
        self.app = app
        self.host = host
        self.port = port
        self.server = uvicorn.Server(_config(app, **uvicorn_options))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread: threading.Thread | None = None
        self.connections_opened = 0
        _count_connections(self.server.config, self)

    @property
    def live_connections(self) -> int:
        return len(self.server.server_state.connections)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LoopbackServer:
        sock = bind_tcp(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[sock])),
            daemon=True,
            name=f"loopback-{self.port}",
        )
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"server on {self.host}:{self.port} failed to start")
            threading.Event().wait(0.005)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_foreground(
    app: Any,
    host: str,
    port: int,
    on_ready: Callable[[int], None] | None = None,
    **uvicorn_options: Any,
) -> None:
    """Run until interrupted; `on_ready(port)` is called once the socket is bound."""
    sock = bind_tcp(host, port)
    if on_ready is not None:
        on_ready(sock.getsockname()[1])
    uvicorn.Server(_config(app, **uvicorn_options)).run(sockets=[sock])
