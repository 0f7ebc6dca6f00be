"""Write-behind for the artifact store: a turn's rows go to Redis at once, the database later.

`WriteBehindStore` is an `ArtifactStore` whose `commit_turn` queues the turn in a Redis stream
and caches each sealed row under its id (so the next turn, on any worker, reads it at once),
and whose `load` reads that cache before the database. Every worker runs a flusher
(`Flusher`) that moves queued turns to the database in batches through a consumer group:

- at-least-once: an entry is acknowledged (and deleted) only after its transaction committed;
  entries a worker took and never acknowledged (it died, its database write hung) are
  reclaimed by any flusher once idle for `claim_seconds`; database writes are idempotent
  (insert-or-skip by artifact id), so a double flush never duplicates a row;
- the stream's blocking read is the nudge (no pub/sub to miss); the block timeout is the
  periodic flush; `aclose()` drains what is queued before the process goes;
- Redis down or refusing: the turn is written directly to the database, and so are turns this
  process queued that Redis lost (restart without persistence): each writer keeps its turns
  until it sees them leave the stream, then checks the database once;
- repeated Redis failures in a row switch this worker to direct writes until Redis answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError
from sqlalchemy import select

from ..logs import get_logger
from ..redislink import RedisLink, RedisUnavailable
from .codec import ArtifactRow
from .database import Database
from .queued import QueuedTurn, pack_row, unpack_row
from .schema import artifacts_table
from .store import ArtifactStore
from .wbflush import Flusher

MAX_UNCONFIRMED = 10_000


@dataclass(frozen=True)
class WriteBehindPolicy:
    batch_size: int = 50
    claim_seconds: float = 30.0  # an unacknowledged entry idle this long is reclaimed
    cache_seconds: float = 3600.0  # how long a queued row stays readable from Redis
    warn_depth: int = 1000  # queued turns before a warning
    failure_limit: int = 5  # Redis failures in a row before direct writes
    block_seconds: float = 1.0  # longest wait for new entries (the periodic flush)
    confirm_seconds: float = 2.0  # a queued turn older than this is checked for loss


def stream_base(link: RedisLink, database: Database) -> str:
    """Keys of one database's queue (several databases may share one Redis)."""
    return link.key("wb", hashlib.sha256(database.target.url.encode()).hexdigest()[:16])


class WriteBehindStore(ArtifactStore):
    def __init__(self, database: Database, link: RedisLink, policy: WriteBehindPolicy) -> None:
        super().__init__(database)
        self.link = link
        self.policy = policy
        base = stream_base(link, database)
        self.stream = base + ":stream"
        self._row_prefix = base + ":row:"
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.direct_writes = 0  # turns written straight to the database (fallbacks)
        self._redis_failures = 0
        self._direct_mode = False
        # Turns this process queued, kept until they are known to be in the database.
        self._unconfirmed: dict[str, QueuedTurn] = {}
        self.flusher = Flusher(self)
        try:  # created on a request's loop: flush from now on, even if this worker never writes
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            self.flusher.ensure_running()

    # ------------------------------------------------------------------ writes

    async def commit_turn(
        self,
        rows: Sequence[ArtifactRow] = (),
        *,
        touch: Iterable[str] = (),
        remove: Iterable[str] = (),
        user_id: str = "",
        now: int = 0,
    ) -> None:
        turn = QueuedTurn.of(rows, list(touch), list(remove), user_id, now)
        self.flusher.ensure_running()
        if self._direct_mode and not self.link.down:
            self._direct_mode = False  # Redis answered a probe since: queue again
        if not self._direct_mode:
            try:
                entry = await self._enqueue(turn)
            except RedisUnavailable:
                pass
            except ResponseError as exc:
                self._redis_failed(exc)
            else:
                self._redis_failures = 0
                self._remember(entry, turn)
                return
        await self.write_direct(turn)

    async def _enqueue(self, turn: QueuedTurn) -> str:
        ttl = max(1, int(self.policy.cache_seconds))

        async def op(client: Any) -> Any:
            pipe = client.pipeline(transaction=True)
            for row in turn.rows:
                pipe.set(self._row_prefix + row.id, pack_row(row), ex=ttl)
            for artifact_id in turn.remove:
                pipe.delete(self._row_prefix + artifact_id)
            pipe.xadd(self.stream, {"t": turn.pack()})
            return await pipe.execute()

        replies = await self.link.run(op)
        entry = replies[-1]
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    def _remember(self, entry: str, turn: QueuedTurn) -> None:
        self._unconfirmed[entry] = turn
        while len(self._unconfirmed) > MAX_UNCONFIRMED:  # oldest: checked at the next pass
            oldest = next(iter(self._unconfirmed))
            self.flusher.spill(oldest, self._unconfirmed.pop(oldest))

    def _redis_failed(self, exc: BaseException) -> None:
        self._redis_failures += 1
        get_logger().warning("write-behind: Redis refused a command (%s)", type(exc).__name__)
        if self._redis_failures >= self.policy.failure_limit and not self._direct_mode:
            self._direct_mode = True
            get_logger().warning(
                "write-behind: %d Redis failures in a row; writing turns directly to the "
                "database until Redis answers again",
                self._redis_failures,
            )

    async def write_direct(self, turn: QueuedTurn) -> None:
        """The turn straight into the database (one transaction); idempotent."""
        self.direct_writes += 1
        await self.commit_turns([turn])

    async def commit_turns(self, turns: Sequence[QueuedTurn]) -> None:
        """Many turns: all their rows in one transaction, then each user's touch/remove."""
        rows = [row for turn in turns for row in turn.rows]
        later: dict[str, tuple[list[str], list[str], int]] = {}
        for turn in turns:
            if turn.user_id and (turn.touch or turn.remove):
                touch, remove, now = later.setdefault(turn.user_id, ([], [], 0))
                touch.extend(turn.touch)
                remove.extend(turn.remove)
                later[turn.user_id] = (touch, remove, max(now, turn.now))
        first = next(iter(later.items()), None)
        if first is None:
            if rows:
                await super().commit_turn(rows)
            return
        user, (touch, remove, now) = first
        await super().commit_turn(rows, touch=touch, remove=remove, user_id=user, now=now)
        for user, (touch, remove, now) in list(later.items())[1:]:
            await super().commit_turn(touch=touch, remove=remove, user_id=user, now=now)

    # ------------------------------------------------------------------ reads

    async def load(self, user_id: str, ids: Sequence[str]) -> dict[str, ArtifactRow]:
        """Queued rows from Redis first (scoped by user like the database), then the rest."""
        wanted = list(dict.fromkeys(ids))
        if not wanted or not user_id:
            return {}
        self.flusher.ensure_running()
        found: dict[str, ArtifactRow] = {}
        if not self._direct_mode:
            keys = [self._row_prefix + i for i in wanted]
            try:
                cached = await self.link.run(lambda client: client.mget(keys))
            except (RedisUnavailable, ResponseError):
                cached = []
            for raw in cached:
                if raw is None:
                    continue
                try:
                    row = unpack_row(raw)
                except (ValueError, TypeError, KeyError):
                    continue  # a damaged cache entry: the database has the row (or will)
                if row.user_id == user_id:
                    found[row.id] = row
        missing = [i for i in wanted if i not in found]
        if missing:
            found.update(await super().load(user_id, missing))
        return found

    async def existing_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        await self.db.ready()
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(artifacts_table.c.id).where(artifacts_table.c.id.in_(list(ids)))
            )
            return {str(i) for i in result.scalars()}

    # ------------------------------------------------------------------ lifecycle

    @property
    def unconfirmed(self) -> dict[str, QueuedTurn]:
        return self._unconfirmed

    async def aclose(self, drain_seconds: float = 5.0) -> None:
        """Flush what is queued (best effort, bounded), then stop the flusher."""
        await self.flusher.stop(drain_seconds)
