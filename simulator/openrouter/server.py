"""Run the fake OpenRouter under uvicorn on loopback, in a background thread (`SimServer`,
for tests and tools) or in the foreground (`serve`, for `orsim serve-openrouter`)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from simulator.net import LoopbackServer, serve_foreground
from simulator.openrouter.app import Player, create_app
from simulator.openrouter.state import QueueSpec, SimConfig, SimState
from simulator.openrouter.synth import Script

DEFAULT_API_KEY = "sk-or-v1-simulator-test-key"


class SimServer:
    """The fake served over real HTTP on 127.0.0.1 (port 0: a free port) from a background
    thread. Use as `with SimServer() as sim:` or `async with SimServer() as sim:`; then
    `sim.base_url` (ends in `/api/v1`), `sim.api_key`, `sim.enqueue(...)`, `sim.journal()`,
    `sim.reset()`, `sim.state`."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        player: Player | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
    ) -> None:
        self.state = SimState(config)
        self.player = player
        self.app = create_app(player=player, state=self.state)
        self.host = host
        self.port = port
        self.api_key = api_key
        self._server: LoopbackServer | None = None

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/api/v1"

    @property
    def config(self) -> SimConfig:
        return self.state.config

    def start(self) -> SimServer:
        self._server = LoopbackServer(
            self.app, self.host, self.port, lifespan="off", timeout_keep_alive=30
        ).start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._server = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> SimServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # connections and open answers ------------------------------------------------
    @property
    def connections_opened(self) -> int:
        """TCP connections accepted since start (a pool that reuses them keeps this small)."""
        return self._server.connections_opened if self._server else 0

    @property
    def live_connections(self) -> int:
        """TCP connections open now, busy or idle keep-alive."""
        return self._server.live_connections if self._server else 0

    @property
    def open_answers(self) -> int:
        """`/responses` answers still being sent (a client that closes its stream ends one)."""
        return self.state.open_answers

    # conveniences over the state ------------------------------------------------
    def enqueue(self, *specs: QueueSpec | dict[str, Any] | Script) -> int:
        return self.state.enqueue(*specs)

    def journal(self) -> list[dict[str, Any]]:
        return self.state.journal()

    def requests_to(self, path_suffix: str = "/responses") -> list[dict[str, Any]]:
        """Journal entries whose path ends with `path_suffix` (default: the inference calls)."""
        return [e for e in self.journal() if e["path"].endswith(path_suffix)]

    def reset(self) -> None:
        """Clear journal, queue and fault counters; rewind the cassette player if any."""
        self.state.reset()
        if callable(getattr(self.player, "reset", None)):
            self.player.reset()  # type: ignore[union-attr]

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client preset with the base URL and the bearer key."""
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            **kwargs,
        )


def serve(
    config: SimConfig | None = None,
    *,
    player: Player | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    echo: Any = None,
) -> None:
    """Serve in the foreground until interrupted; prints the actual base URL first."""
    say = echo or (lambda s: print(s, flush=True))
    serve_foreground(
        create_app(config, player=player),
        host,
        port,
        on_ready=lambda actual: say(f"http://{host}:{actual}/api/v1"),
        lifespan="off",
    )
