"""Which database holds the pipe's tables, and one async engine per database per process.

Inside Open WebUI the pipe shares Open WebUI's own async engine (its DATABASE_URL: SQLite by
default, PostgreSQL in larger installs), so there is no second database to run. Elsewhere, or
when `ARTIFACT_DATABASE_URL` is set, the pipe opens its own engine: that URL, or SQLite at
`$DATA_DIR/openrouter_pipe.db`. Plain URLs get their async driver (aiosqlite, psycopg 3).
`Database.ready()` creates the tables once, idempotently, and checks the schema version.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ..logs import get_logger
from ..owui import data_dir, owui_async_engine, owui_database_schema
from ..redaction import redact
from .schema import SCHEMA_VERSION, meta_table, pipe_metadata

DEFAULT_SQLITE_NAME = "openrouter_pipe.db"
SQLITE_BUSY_TIMEOUT_SECONDS = 5.0


class SchemaDriftError(RuntimeError):
    """The tables were created by a newer pipe (or altered): refuse to write into them."""


def async_url(url: str) -> str:
    """The async-driver form of a database URL (what Open WebUI does to its DATABASE_URL)."""
    for prefix, replacement in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql+psycopg2://", "postgresql+psycopg://"),
        ("postgresql://", "postgresql+psycopg://"),
        ("postgres://", "postgresql+psycopg://"),
    ):
        if url.startswith(prefix):
            return replacement + url[len(prefix) :]
    return url


def describe_url(url: str) -> str:
    """A database URL without its password, for logs and status lines."""
    head, sep, tail = url.rpartition("@")
    if not sep:
        return url
    scheme, _, creds = head.partition("://")
    user = creds.split(":", 1)[0]
    return redact(f"{scheme}://{user}:***@{tail}")


@dataclass(frozen=True)
class DatabaseTarget:
    """Where the tables live: `url` (shown without password) and whether the engine is
    Open WebUI's (never disposed by the pipe)."""

    url: str
    shared: bool
    schema: str | None = None


def choose_target(configured_url: str) -> DatabaseTarget:
    configured_url = (configured_url or "").strip()
    if configured_url:
        return DatabaseTarget(async_url(configured_url), shared=False)
    engine = owui_async_engine()
    if engine is not None:
        url = engine.url.render_as_string(hide_password=True)
        return DatabaseTarget(url, shared=True, schema=owui_database_schema())
    path = data_dir() / DEFAULT_SQLITE_NAME
    return DatabaseTarget(f"sqlite+aiosqlite:///{path}", shared=False)


def _enable_sqlite_wal(engine: AsyncEngine) -> None:
    """The pipe's own SQLite file runs in WAL mode: readers never wait for the writer (several
    worker processes share the file)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def open_engine(target: DatabaseTarget) -> AsyncEngine:
    if target.shared:
        engine: AsyncEngine | None = owui_async_engine()
        if engine is None:  # pragma: no cover - chosen only when Open WebUI is importable
            raise RuntimeError("Open WebUI's engine disappeared")
        return engine
    if target.url.startswith("sqlite"):
        path = target.url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # No pool (a fresh connection costs about 1 ms): every aiosqlite connection is a thread,
        # and an idle pooled one keeps a process from exiting when nobody disposes the engine;
        # a pooled one cancelled mid-query (a loop shutting down during a cleanup) was seen to
        # hang the cancelled task.
        engine = create_async_engine(
            target.url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            poolclass=NullPool,
        )
        if target.url.endswith(DEFAULT_SQLITE_NAME):
            _enable_sqlite_wal(engine)
        return engine
    return create_async_engine(
        target.url, pool_size=5, max_overflow=10, pool_pre_ping=True, pool_recycle=1800
    )


class Database:
    """One engine plus the knowledge that the pipe's tables exist in it."""

    def __init__(self, target: DatabaseTarget, engine: AsyncEngine | None = None) -> None:
        self.target = target
        engine = engine or open_engine(target)
        if target.schema:
            engine = engine.execution_options(schema_translate_map={None: target.schema})
        self.engine = engine
        self.dialect = engine.dialect.name
        self._ready = False
        self._lock = asyncio.Lock()
        self._meta: dict[str, str] = {}

    @property
    def label(self) -> str:
        return describe_url(self.target.url)

    async def ready(self) -> None:
        """Create the tables (once per process; concurrent creators elsewhere are fine)."""
        if self._ready:
            return
        async with self._lock:
            if self._ready:
                return
            await self._create_tables()
            version = await self.meta_value("schema_version", str(SCHEMA_VERSION))
            if int(version) > SCHEMA_VERSION:
                raise SchemaDriftError(
                    f"the pipe's tables have schema version {version}; this pipe knows "
                    f"{SCHEMA_VERSION}"
                )
            self._ready = True

    async def _create_tables(self) -> None:
        """CREATE TABLE/INDEX for what is missing. Another process creating them at the same
        moment makes ours fail with 'already exists': look again, then it is all there."""
        for attempt in range(3):
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(pipe_metadata.create_all, checkfirst=True)
                return
            except (OperationalError, ProgrammingError, IntegrityError):
                if attempt == 2:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    async def meta_value(self, key: str, default: str) -> str:
        """The stored value of `key`, storing `default` first when there is none. Several
        processes racing here all end up reading the one value that won."""
        if key in self._meta:
            return self._meta[key]
        for _ in range(3):
            async with self.engine.connect() as conn:
                value = await self._read_meta(conn, key)
            if value is not None:
                self._meta[key] = value
                return value
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(insert(meta_table).values(key=key, value=default))
            except IntegrityError:
                await asyncio.sleep(0.01)  # another process stored it first: read theirs
        raise RuntimeError(f"cannot store {key} in {meta_table.name}")

    @staticmethod
    async def _read_meta(conn: AsyncConnection, key: str) -> str | None:
        row = (
            await conn.execute(select(meta_table.c.value).where(meta_table.c.key == key))
        ).first()
        return None if row is None else str(row[0])

    async def dispose(self) -> None:
        if not self.target.shared:
            await self.engine.dispose()


class Breaker:
    """Stops hammering a dead database: after `threshold` failures in a row, calls are refused
    for `cooldown` seconds, then one call at a time may try again."""

    def __init__(self, threshold: int = 3, cooldown: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = 0
        self._open_until = 0.0

    def allow(self) -> bool:
        now = time.monotonic()
        if self.failures < self.threshold:
            return True
        if now >= self._open_until:
            self._open_until = now + self.cooldown  # half-open: this caller probes
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self._open_until = 0.0

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            if self.failures == self.threshold:
                get_logger().warning(
                    "artifact database failed %d times in a row; pausing it for %.0fs",
                    self.failures,
                    self.cooldown,
                )
            self._open_until = time.monotonic() + self.cooldown
