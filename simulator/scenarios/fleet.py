"""Scenario suites on K worker processes sharing Redis and a database (`orsim run --workers K`).

Each worker (simulator/scenarios/turnworker.py) is its own process with its own fake Open WebUI
host and its own copy of the pipe, as Open WebUI's uvicorn workers are; they share the Redis
(Open WebUI's `REDIS_URL`), the artifact database and `WEBUI_SECRET_KEY`, and nothing else.
Turn N of every chat runs on worker (N - 1) mod K, so with two workers consecutive turns always
run on different processes and every multi-turn replay crosses workers (through the Redis
write-behind queue when Redis is on). `auto` starts a throwaway redis-server / PostgreSQL from
the Debian packages in a temp dir on a free port (simulator/services/).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any

from simulator.host.transcript import Transcript
from simulator.scenarios.model import Scenario, Turn
from simulator.scenarios.runner import SqliteStores

KEY_PREFIX = "openrouter-pipe:"
DRAIN_TIMEOUT_SECONDS = 15.0


class FleetError(RuntimeError):
    """A worker failed to start, crashed, or a service could not be reached."""


# ---------------------------------------------------------------------------- services


class FleetServices:
    """The Redis and database a fleet run shares: given URLs, or `auto` (started here)."""

    def __init__(self, redis: str = "", database_url: str = "") -> None:
        self.redis_arg, self.database_arg = redis.strip(), database_url.strip()
        self.redis_url = ""
        self.database_url = ""
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> FleetServices:
        try:
            self.redis_url = self._redis() if self.redis_arg else ""
            self.database_url = self._database() if self.database_arg else ""
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _redis(self) -> str:
        if self.redis_arg != "auto":
            if not self.redis_arg.startswith(("redis://", "rediss://", "unix://")):
                raise FleetError(
                    f"--redis must be `auto` or a redis:// URL, not {self.redis_arg!r}"
                )
            return self.redis_arg
        from simulator.services.redis_server import RedisServer

        workdir = Path(
            self._stack.enter_context(tempfile.TemporaryDirectory(prefix="orsim-redis-"))
        )
        try:
            server = RedisServer(workdir).start()
        except RuntimeError as exc:
            raise FleetError(str(exc)) from exc
        self._stack.callback(server.stop)
        return server.url

    def _database(self) -> str:
        if self.database_arg != "auto":
            if not self.database_arg.startswith(("postgresql://", "postgresql+psycopg://")):
                raise FleetError(
                    "--database-url must be `auto` or a postgresql:// URL (a role that may "
                    f"CREATE DATABASE), not {self.database_arg!r}"
                )
            return self.database_arg
        from simulator.services.postgres import PostgresServer, PostgresUnavailable

        try:
            server = self._stack.enter_context(PostgresServer())
        except PostgresUnavailable as exc:
            raise FleetError(str(exc)) from exc
        return server.url()


# ---------------------------------------------------------------------------- stores


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass
class PostgresStore:
    url: str
    name: str


class PostgresStores:
    """A fresh PostgreSQL database per scenario on the server of `server_url`, dropped after."""

    def __init__(self, server_url: str) -> None:
        self.server_url = _libpq_url(server_url)

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(sql)

    def _url(self, name: str) -> str:
        base, _, _ = self.server_url.partition("?")
        return base.rsplit("/", 1)[0] + "/" + name

    async def new(self) -> PostgresStore:
        name = f"orsim_scenario_{secrets.token_hex(6)}"
        await asyncio.to_thread(self._admin, f'CREATE DATABASE "{name}"')
        return PostgresStore(self._url(name), name)

    async def read(self, store: PostgresStore) -> tuple[dict[str, int], list[bytes]]:
        import psycopg

        from pipe.storage.schema import ARTIFACT_TABLE

        def read() -> tuple[dict[str, int], list[bytes]]:
            with psycopg.connect(store.url) as conn:
                try:
                    rows = conn.execute(
                        f"SELECT item_type, payload FROM {ARTIFACT_TABLE}"
                    ).fetchall()
                except psycopg.errors.UndefinedTable:
                    return {}, []
            counts: dict[str, int] = {}
            for kind, _ in rows:
                counts[kind] = counts.get(kind, 0) + 1
            return counts, [bytes(p) for _, p in rows]

        return await asyncio.to_thread(read)

    async def release(self, store: PostgresStore) -> None:
        await asyncio.to_thread(self._admin, f'DROP DATABASE IF EXISTS "{store.name}" WITH (FORCE)')


class DrainedStores:
    """Reads a store only once the Redis write-behind queue is empty (the database then holds
    every row the turn promised), so `stored` checks see the database, not the queue."""

    def __init__(self, inner: Any, redis_url: str) -> None:
        self.inner = inner
        self.redis_url = redis_url

    async def new(self) -> Any:
        return await self.inner.new()

    async def read(self, store: Any) -> tuple[dict[str, int], list[bytes]]:
        if self.redis_url:
            await asyncio.to_thread(wait_for_drain, self.redis_url)
        return await self.inner.read(store)

    async def release(self, store: Any) -> None:
        await self.inner.release(store)


def queued_turns(redis_url: str) -> int:
    """Turns still in any write-behind queue of the pipe on this Redis (0 when Redis does
    not answer: the pipe then writes directly, there is no queue to wait for)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=5)
    try:
        return sum(int(client.xlen(k)) for k in client.scan_iter(f"{KEY_PREFIX}wb:*:stream"))
    except redis.ConnectionError:
        return 0
    finally:
        client.close()


def wait_for_drain(redis_url: str, timeout: float = DRAIN_TIMEOUT_SECONDS) -> bool:
    end = time.monotonic() + timeout
    while queued_turns(redis_url):
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def forget_pipe_state(redis_url: str) -> None:
    """Delete the pipe's keys (cool-down windows, leases, catalog copy, queues), so the next
    scenario starts as fresh as a new process would."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=5)
    try:
        keys = list(client.scan_iter(f"{KEY_PREFIX}*"))
        if keys:
            client.delete(*keys)
    except redis.ConnectionError:
        pass  # nothing shared to forget
    finally:
        client.close()


def fleet_stores(services: FleetServices, data_dir: Path) -> DrainedStores:
    inner: Any = (
        PostgresStores(services.database_url) if services.database_url else SqliteStores(data_dir)
    )
    return DrainedStores(inner, services.redis_url)


# ---------------------------------------------------------------------------- players


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection
    pid: int


class FleetPlayers:
    """K turn-worker processes; turn N of a chat is played on worker (N - 1) mod K."""

    def __init__(
        self,
        function_path: Path,
        workers: int,
        services: FleetServices,
        *,
        verbose: bool = False,
        start_timeout: float = 60.0,
    ) -> None:
        if workers < 1:
            raise FleetError("--workers must be at least 1")
        self.function_path = function_path
        self.workers = workers
        self.services = services
        self.verbose = verbose
        self.start_timeout = start_timeout
        self._workers: list[_Worker] = []

    # -- lifecycle

    def start(self) -> FleetPlayers:
        key = secrets.token_bytes(16)
        listener = Listener(("127.0.0.1", 0), authkey=key)
        env = dict(os.environ)
        env.update(
            ORSIM_TURNWORKER_KEY=key.hex(),
            # Open WebUI's workers share one secret (the artifact key derives from it).
            WEBUI_SECRET_KEY=env.get("WEBUI_SECRET_KEY") or secrets.token_urlsafe(24),
        )
        if self.services.redis_url:
            env["REDIS_URL"] = self.services.redis_url
        host, port = listener.address
        args = [sys.executable, "-m", "simulator.scenarios.turnworker", f"{host}:{port}"]
        if self.verbose:
            args.append("--verbose")
        procs = [subprocess.Popen(args, env=env) for _ in range(self.workers)]

        def accept_all() -> None:
            for _ in procs:
                conn = listener.accept()
                hello = conn.recv()
                proc = next(p for p in procs if p.pid == hello[1])
                self._workers.append(_Worker(proc, conn, hello[1]))

        pool = ThreadPoolExecutor(1)
        try:
            pool.submit(accept_all).result(timeout=self.start_timeout)
        except Exception as exc:
            for proc in procs:
                proc.kill()
            raise FleetError(f"the turn workers did not start: {exc!r}") from exc
        finally:
            listener.close()  # also ends an accept() still waiting
            pool.shutdown(wait=False)
        self._workers.sort(key=lambda w: procs.index(w.process))
        return self

    def stop(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(Exception):
                worker.conn.send(("stop",))
        for worker in self._workers:
            try:
                worker.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.conn.close()
        self._workers = []

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self._workers]

    # -- the runner's side

    async def _ask(self, index: int, *message: Any) -> Any:
        worker = self._workers[index]

        def exchange() -> Any:
            worker.conn.send(message)
            return worker.conn.recv()

        try:
            status, value = await asyncio.to_thread(exchange)
        except (EOFError, OSError) as exc:
            code = worker.process.poll()
            raise FleetError(f"worker {index} (pid {worker.pid}) is gone (exit {code})") from exc
        if status != "ok":
            raise FleetError(f"worker {index} (pid {worker.pid}): {value}")
        return value

    async def open(self, scenario: Scenario, valves: dict[str, Any]) -> None:
        text = scenario.model_dump_json()
        path = str(self.function_path)
        await asyncio.gather(
            *(self._ask(i, "open", text, valves, path) for i in range(self.workers))
        )

    async def play(
        self, number: int, turn: Turn, history: list[dict[str, Any]], chat_id: str
    ) -> tuple[list[Transcript], list[Any], int]:
        pid, transcripts = await self._ask(
            (number - 1) % self.workers, "play", number - 1, history, chat_id
        )
        served = self.pids.index(pid)  # the process that answered, not the one asked
        return transcripts, [r for t in transcripts for r in t.tool_runs], served

    async def close(self) -> None:
        """Every worker closes its pipe (draining its write-behind queue), then the pipe's
        shared keys are cleared for the next scenario."""
        await asyncio.gather(*(self._ask(i, "close") for i in range(self.workers)))
        if self.services.redis_url:
            await asyncio.to_thread(forget_pipe_state, self.services.redis_url)
