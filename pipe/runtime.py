"""Process-wide resources, created lazily and closed cleanly.

One `PipeRuntime` per event loop (in production: one per worker process) holds the shared
httpx clients (one per base URL: building a client costs ~17 ms of CPU for its SSL context),
the model catalogs (one per base URL and API key), the admission controller, the artifact
databases and vaults (one engine per database) and the `Fleet` (what workers share through
Redis; one per Redis URL, "" meaning none). This module's
`_RUNTIMES` registry is the only module-level mutable state of the pipe.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Coroutine
from typing import Any

import httpx

from .admission import AdmissionController
from .catalog import ModelCatalog
from .fleet import Fleet
from .guards import FailureWindows
from .redislink import RedisLink
from .storage.archiver import SessionArchiver
from .storage.archives import DatabaseArchives, DirectoryArchives
from .storage.crypto import resolve_secrets
from .storage.database import Database, choose_target
from .storage.store import ArtifactStore
from .storage.vault import ArtifactVault
from .storage.writebehind import WriteBehindPolicy, WriteBehindStore
from .streamio import AiohttpOpener, HttpxOpener, StreamOpener
from .telemetry import PipeMetrics

# No cap on connections: admission control (MAX_CONCURRENT_REQUESTS) bounds the streams, and a
# pool cap below it would queue admitted chats for a connection (and fail them after the pool
# timeout as "could not reach OpenRouter").
POOL_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=50, keepalive_expiry=60)
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=30.0, pool=30.0)


class PipeRuntime:
    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._streams: AiohttpOpener | None = None
        self._catalogs: dict[tuple[str, str], ModelCatalog] = {}
        # Failures per user for the breakers (guards.py); models refused on /responses
        # (fallback.py). The cool-down windows themselves are the fleet's `Holds`.
        self.failures = FailureWindows()
        self.chat_only: dict[str, float] = {}
        self.admission = AdmissionController(limit=50, queue_size=500)
        # Tool calls running at once in this process (MAX_PARALLEL_TOOLS_GLOBAL; live).
        self.tool_slots = AdmissionController(limit=200, queue_size=1_000_000)
        self._databases: dict[str, Database] = {}
        self._vaults: dict[tuple[str, str], ArtifactVault] = {}
        self._archivers: dict[str, SessionArchiver] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._fleets: dict[str, Fleet] = {}
        self._metrics: PipeMetrics | None = None
        self._queues: dict[tuple[str, str], WriteBehindStore] = {}

    def client(self, base_url: str) -> httpx.AsyncClient:
        key = base_url.rstrip("/")
        client = self._clients.get(key)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                limits=POOL_LIMITS,
                timeout=DEFAULT_TIMEOUT,
                transport=self._transport,
                follow_redirects=False,
            )
            self._clients[key] = client
        return client

    def streams(self, base_url: str) -> StreamOpener:
        """Who opens streaming calls: aiohttp in production, the test transport in tests."""
        if self._transport is not None:
            return HttpxOpener(self.client(base_url))
        if self._streams is None:
            self._streams = AiohttpOpener()
        return self._streams

    def catalog(self, base_url: str, api_key: str) -> ModelCatalog:
        key = (base_url.rstrip("/"), hashlib.sha256(api_key.encode()).hexdigest())
        catalog = self._catalogs.get(key)
        if catalog is None:
            scope = "catalog:" + hashlib.sha256("|".join(key).encode()).hexdigest()[:24]
            catalog = ModelCatalog(self.client(base_url), base_url, scope=scope)
            self._catalogs[key] = catalog
        return catalog

    def database(self, configured_url: str) -> Database:
        """The database holding the pipe's tables (one engine per database per runtime)."""
        target = choose_target(configured_url)
        database = self._databases.get(target.url)
        if database is None:
            database = self._databases[target.url] = Database(target)
        return database

    def vault(
        self,
        configured_url: str,
        key: str,
        previous_keys: str,
        write_behind: tuple[Fleet, WriteBehindPolicy] | None = None,
        memory_mb: float = 0,
    ) -> ArtifactVault:
        """The artifact vault for a database and key set (valves may change between calls);
        with `write_behind` (a fleet with Redis) its writes are queued in Redis first;
        `memory_mb` bounds the artifacts it keeps in the clear for the next turns."""
        database = self.database(configured_url)
        current, older = resolve_secrets(key, previous_keys)
        fingerprint = hashlib.sha256("\0".join([current, *older]).encode()).hexdigest()
        vault = self._vaults.get((database.target.url, fingerprint))
        if vault is None:
            vault = ArtifactVault(database, current, older)
            self._vaults[(database.target.url, fingerprint)] = vault
        vault.store = self._store(database, write_behind)
        vault.opened.resize(int(memory_mb * 1024 * 1024))
        return vault

    def _store(
        self, database: Database, write_behind: tuple[Fleet, WriteBehindPolicy] | None
    ) -> ArtifactStore:
        """One write-behind store (and flusher) per database and Redis; else the plain one."""
        if write_behind is None or write_behind[0].link is None:
            return ArtifactStore(database)
        fleet, policy = write_behind
        assert fleet.link is not None
        key = (database.target.url, fleet.link.url)
        store = self._queues.get(key)
        if store is None:
            store = self._queues[key] = WriteBehindStore(database, fleet.link, policy)
        store.policy = policy  # valves apply live
        return store

    def archiver(self, directory: str) -> SessionArchiver:
        """Session-log archives: the database (default) or a directory."""
        directory = directory.strip()
        archiver = self._archivers.get(directory)
        if archiver is None:
            backend = (
                DirectoryArchives(directory) if directory else DatabaseArchives(self.database(""))
            )
            current, older = resolve_secrets("", "")
            archiver = self._archivers[directory] = SessionArchiver(backend, current, older)
        return archiver

    def pipe_metrics(self) -> PipeMetrics:
        """The pipe's OpenTelemetry instruments on the current global meter provider."""
        if self._metrics is None or not self._metrics.bound_to_current():
            self._metrics = PipeMetrics(lambda: self.admission.waiting)
        return self._metrics

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Background work the request does not wait for (archives, usage rows); kept until
        done, awaited on close."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def drain(self) -> None:
        """Wait for the background work started so far."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def fleet(self, redis_url: str) -> Fleet:
        """The shared state for this Redis URL ("" = per-process only)."""
        fleet = self._fleets.get(redis_url)
        if fleet is None:
            fleet = Fleet(RedisLink(redis_url) if redis_url else None)
            self._fleets[redis_url] = fleet
        return fleet

    async def aclose(self) -> None:
        await self.drain()
        queues, self._queues = list(self._queues.values()), {}
        for queue in queues:  # drain to the database while both are still open
            await queue.aclose()
        self._archivers.clear()
        clients, self._clients = list(self._clients.values()), {}
        for catalog in self._catalogs.values():
            catalog.close()
        self._catalogs.clear()
        vaults, self._vaults = list(self._vaults.values()), {}
        databases, self._databases = list(self._databases.values()), {}
        for vault in vaults:
            await vault.close()
        for database in databases:
            await database.dispose()
        for client in clients:
            await client.aclose()
        fleets, self._fleets = list(self._fleets.values()), {}
        for fleet in fleets:
            await fleet.aclose()
        streams, self._streams = self._streams, None
        if streams is not None:
            await streams.aclose()


# (event loop, transport) -> runtime. Clients are bound to the loop they were created on.
_RUNTIMES: dict[tuple[int, int], tuple[asyncio.AbstractEventLoop, PipeRuntime]] = {}


def get_runtime(transport: httpx.AsyncBaseTransport | None = None) -> PipeRuntime:
    loop = asyncio.get_running_loop()
    for key, (other_loop, _) in list(_RUNTIMES.items()):
        if other_loop.is_closed():
            del _RUNTIMES[key]  # a finished loop's clients cannot be used (or closed) any more
    key = (id(loop), id(transport))
    entry = _RUNTIMES.get(key)
    if entry is None:
        entry = (loop, PipeRuntime(transport))
        _RUNTIMES[key] = entry
    return entry[1]


async def close_runtimes() -> None:
    """Close every runtime of the running loop (tests, shutdown)."""
    loop = asyncio.get_running_loop()
    for key, (other_loop, runtime) in list(_RUNTIMES.items()):
        if other_loop is loop:
            del _RUNTIMES[key]
            await runtime.aclose()
