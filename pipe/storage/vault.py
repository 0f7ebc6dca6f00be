"""`ArtifactVault`: what the pipe asks of the artifact store, with its failure rules.

It seals and opens artifacts (keys, compression), talks to the `ArtifactStore`, and turns any
database trouble into `VaultUnavailable` with a short reason: a dead database, a locked SQLite
file, a full disk or a schema from a newer pipe never breaks a chat. Calls are bounded in time
and breakers (one for reads, one for saves) stop calling a database that keeps failing.
Retention runs at most once per interval per process, with jitter so workers do not all clean
at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ..logs import get_logger
from .codec import Artifact, ArtifactCodec, ArtifactRow
from .crypto import ArtifactIntegrityError, ArtifactKeyError, KeyRing
from .database import Breaker, Database, SchemaDriftError
from .opened import OpenedArtifacts
from .store import ArtifactStore

LOAD_TIMEOUT_SECONDS = 3.0
SAVE_TIMEOUT_SECONDS = 10.0
CLEANUP_JITTER = 0.25


class VaultUnavailable(Exception):
    """The store cannot be used right now; `reason` is safe to show to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class LoadResult:
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # no such row for this user
    unreadable: dict[str, str] = field(default_factory=dict)  # id -> "key" / "integrity"


class ArtifactVault:
    def __init__(
        self,
        database: Database,
        secret: str,
        older_secrets: Sequence[str],
        *,
        load_timeout: float = LOAD_TIMEOUT_SECONDS,
        save_timeout: float = SAVE_TIMEOUT_SECONDS,
        memory_bytes: int = 0,
    ) -> None:
        self.db = database
        self.load_timeout = load_timeout
        self.save_timeout = save_timeout
        self.store = ArtifactStore(database)
        # One breaker for the calls that read the database, one for saves: with write-behind
        # a save goes to Redis, so failing loads (the database down) must not stop it.
        self.breaker = Breaker()
        self.save_breaker = Breaker()
        self.opened = OpenedArtifacts(memory_bytes)
        self._secret = secret
        self._older = list(older_secrets)
        self._codec: ArtifactCodec | None = None
        self._next_cleanup = 0.0
        self._cleanup_task: asyncio.Task[int] | None = None

    # ------------------------------------------------------------------ plumbing

    async def codec(self) -> ArtifactCodec:
        if self._codec is None:
            await self.db.ready()
            salt_text = await self.db.meta_value(
                "kdf_salt", base64.b64encode(os.urandom(16)).decode()
            )
            keys = await asyncio.to_thread(
                KeyRing.from_secrets, self._secret, self._older, base64.b64decode(salt_text)
            )
            self._codec = ArtifactCodec(keys)
        return self._codec

    async def _guarded(
        self,
        what: str,
        work: Callable[[], Awaitable[Any]],
        limit: float,
        breaker: Breaker | None = None,
    ) -> Any:
        breaker = breaker or self.breaker
        if not breaker.allow():
            raise VaultUnavailable("the history database is paused after repeated failures")
        try:
            result = await asyncio.wait_for(work(), limit)
        except SchemaDriftError as exc:
            breaker.failure()
            get_logger().error("artifact store %s refused: %s", what, exc)
            raise VaultUnavailable("the history tables belong to a newer pipe version") from exc
        except TimeoutError as exc:
            breaker.failure()
            get_logger().warning("artifact store %s timed out after %.1fs", what, limit)
            raise VaultUnavailable("the history database did not answer in time") from exc
        except (SQLAlchemyError, OSError, ArtifactKeyError) as exc:
            breaker.failure()
            get_logger().warning(
                "artifact store %s failed on %s: %s", what, self.db.label, _brief(exc)
            )
            raise VaultUnavailable("the history database is unavailable") from exc
        breaker.success()
        return result

    # ------------------------------------------------------------------ the pipe's calls

    async def save_turn(
        self,
        artifacts: Sequence[Artifact],
        *,
        user_id: str,
        touch: Sequence[str] = (),
        remove: Sequence[str] = (),
    ) -> None:
        """Seal and commit one turn in one transaction (or nothing at all); what it stored is
        kept in memory for the next turn, what it removed is forgotten."""
        sealed: list[tuple[ArtifactRow, int]] = []

        async def work() -> None:
            codec = await self.codec()
            sealed[:] = [codec.seal_sized(a) for a in artifacts]
            await self.store.commit_turn(
                [row for row, _ in sealed],
                touch=touch,
                remove=remove,
                user_id=user_id,
                now=int(time.time()),
            )

        await self._guarded("save", work, self.save_timeout, self.save_breaker)
        for artifact, (_, size) in zip(artifacts, sealed, strict=True):
            self.opened.put(artifact, size)
        self.opened.drop(user_id, remove)

    async def load(
        self, user_id: str, ids: Sequence[str], *, fresh_types: Collection[str] = ()
    ) -> LoadResult:
        """The artifacts of `ids` this user owns, in `ids` order: from memory when this process
        sealed or opened them lately (except `fresh_types`), the rest in one query."""
        wanted = list(dict.fromkeys(ids))
        kept = self.opened.get(user_id, wanted, fresh_types)
        missing = [i for i in wanted if i not in kept]
        rows: dict[str, ArtifactRow] = {}
        codec: ArtifactCodec | None = None
        if missing:

            async def work() -> tuple[ArtifactCodec, dict[str, ArtifactRow]]:
                codec = await self.codec()
                return codec, await self.store.load(user_id, missing)

            codec, rows = await self._guarded("load", work, self.load_timeout)
        result = LoadResult()
        for artifact_id in wanted:
            if artifact_id in kept:
                result.artifacts[artifact_id] = kept[artifact_id]
                continue
            row = rows.get(artifact_id)
            if row is None or codec is None:
                result.missing.append(artifact_id)
                continue
            try:
                artifact, size = codec.open_sized(row)
            except ArtifactKeyError:
                result.unreadable[artifact_id] = "key"
            except (ArtifactIntegrityError, ValueError):
                result.unreadable[artifact_id] = "integrity"
            else:
                result.artifacts[artifact_id] = artifact
                self.opened.put(artifact, size)
        return result

    # ------------------------------------------------------------------ retention

    def schedule_cleanup(self, retention_days: int, interval_hours: float) -> None:
        """Start a cleanup in the background if this process has not run one lately."""
        now = time.monotonic()
        if now < self._next_cleanup or (self._cleanup_task and not self._cleanup_task.done()):
            return
        interval = interval_hours * 3600.0
        self._next_cleanup = now + interval * (1 + random.uniform(0, CLEANUP_JITTER))
        self._cleanup_task = asyncio.create_task(self.cleanup(retention_days))

    async def cleanup(self, retention_days: int) -> int:
        cutoff = int(time.time()) - int(retention_days * 86400)
        try:
            removed: int = await self._guarded(
                "cleanup", lambda: self.store.cleanup(cutoff), self.save_timeout
            )
        except VaultUnavailable:
            return 0
        if removed:
            self.opened.clear()  # which of them were in memory is not worth a query
            get_logger().info(
                "artifact retention removed %d rows unused for %d days", removed, retention_days
            )
        return removed

    async def reencrypt(self, batch: int = 500) -> int:
        """Re-seal every readable row under the current key; returns how many moved."""
        codec = await self.codec()
        moved = 0
        skipped: set[str] = set()
        while True:
            rows = [
                r
                for r in await self.store.sealed_with_other_keys(
                    codec.keys.current_id, batch + len(skipped)
                )
                if r.id not in skipped
            ]
            if not rows:
                return moved
            fresh = []
            for row in rows:
                try:
                    fresh.append(codec.reseal(row))
                except (ArtifactKeyError, ArtifactIntegrityError, ValueError):
                    skipped.add(row.id)  # not ours to read: left exactly as it is
            await self.store.replace_sealed(fresh)
            moved += len(fresh)

    async def close(self) -> None:
        """Let a running cleanup finish and let go of its connection (the database itself is
        closed by its owner). It is cancelled only when it outlasts the save timeout: a
        cancelled query keeps running in the driver's thread, which then answers an event
        loop that may be gone."""
        task, self._cleanup_task = self._cleanup_task, None
        if task is None or task.done():
            return
        await asyncio.wait({task}, timeout=self.save_timeout)
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def _brief(exc: BaseException) -> str:
    """An exception as one short line (driver messages can be long; never the SQL text)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).splitlines()[0] if str(orig) else ""
    return f"{type(orig).__name__}: {text[:200]}"
