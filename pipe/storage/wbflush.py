"""The write-behind flusher: queued turns from the Redis stream into the database, in batches.

One per `WriteBehindStore` (one per database per worker process). See writebehind.py for the
delivery rules; this module is the loop that applies them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

from redis.exceptions import ResponseError

from ..logs import get_logger
from ..redislink import RETRY_SECONDS, RedisUnavailable
from .queued import QueuedTurn

GROUP = "flushers"
FLUSH_TIMEOUT_SECONDS = 30.0
FLUSH_MAINTAIN_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 10.0
WbEntry = tuple[str, Any]


def _wb_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _wb_entries(raw: Any) -> list[WbEntry]:
    """(id, packed turn or None) from an XREADGROUP / XAUTOCLAIM entry list."""
    out: list[WbEntry] = []
    for entry_id, fields in raw or []:
        data = fields or {}
        out.append((_wb_text(entry_id), data.get(b"t", data.get("t"))))
    return out


class Flusher:
    def __init__(self, store: Any) -> None:
        self.store = store  # the WriteBehindStore (untyped here: it imports this module)
        self.task: asyncio.Task[None] | None = None
        self.flushed_turns = 0
        self.lags: deque[float] = deque(maxlen=100_000)  # seconds from queue to commit
        self.db_failures = 0  # in a row
        self._stopping = False
        self._group_ready = False
        self._retry_own = True  # first read: whatever this consumer left pending
        self._next_reclaim = 0.0
        self._next_maintain = 0.0
        self._depth_warned = False
        self._spilled: list[QueuedTurn] = []

    # ------------------------------------------------------------------ lifecycle

    def ensure_running(self) -> None:
        if self._stopping:
            return
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="wb-flusher")

    async def _run(self) -> None:
        backoff = 0.0
        while not self._stopping:
            try:
                if backoff:
                    await asyncio.sleep(backoff)
                failures = self.db_failures
                await self.flush_once(block=True)
                await self.maintain()
                backoff = (
                    0.0
                    if self.db_failures == 0 or self.db_failures == failures
                    else min(MAX_BACKOFF_SECONDS, 0.25 * 2 ** (self.db_failures - 1))
                )
            except RedisUnavailable:
                await self._redis_gone()
                await asyncio.sleep(RETRY_SECONDS / 2)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the flusher must outlive any one bad round
                get_logger().warning("write-behind flusher: %s: %s", type(exc).__name__, exc)
                await asyncio.sleep(1.0)

    async def stop(self, drain_seconds: float) -> None:
        self._stopping = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        end = time.monotonic() + drain_seconds
        self._retry_own = True
        try:
            while time.monotonic() < end:
                own = self._retry_own
                if await self.flush_once(block=False):
                    continue
                if not own:
                    break  # nothing new is queued
                if self._retry_own:
                    await asyncio.sleep(0.1)  # the database refused: try again shortly
            await self.maintain(final=True)
        except RedisUnavailable:
            await self._write_unconfirmed("Redis is unavailable at shutdown")
        except Exception as exc:
            get_logger().warning("write-behind drain stopped: %s", type(exc).__name__)

    # ------------------------------------------------------------------ one round

    async def flush_once(self, block: bool = False) -> int:
        """Read (or reclaim) one batch and commit it; the number of turns committed."""
        entries = await self._read(block)
        if not entries and time.monotonic() >= self._next_reclaim:
            self._next_reclaim = time.monotonic() + max(0.2, self.store.policy.claim_seconds / 4)
            entries = await self._reclaim()
        if not entries:
            return 0
        return await self._commit(entries)

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        store = self.store
        try:
            await store.link.run(
                lambda c: c.xgroup_create(store.stream, GROUP, id="0", mkstream=True)
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _read(self, block: bool) -> list[WbEntry]:
        await self._ensure_group()
        store, policy = self.store, self.store.policy
        own = self._retry_own
        wait = int(policy.block_seconds * 1000) if block and not own else None
        try:
            reply: Any = await store.link.run(
                lambda c: c.xreadgroup(
                    GROUP,
                    store.consumer,
                    {store.stream: "0" if own else ">"},
                    count=policy.batch_size,
                    block=wait,
                )
            )
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                await self._queue_lost()
                return []
            raise
        entries = _wb_entries(reply[0][1]) if reply else []
        if own and not entries:
            self._retry_own = False
        return entries

    async def _reclaim(self) -> list[WbEntry]:
        store = self.store
        try:
            reply: Any = await store.link.run(
                lambda c: c.xautoclaim(
                    store.stream,
                    GROUP,
                    store.consumer,
                    min_idle_time=int(store.policy.claim_seconds * 1000),
                    start_id="0-0",
                    count=store.policy.batch_size,
                )
            )
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                await self._queue_lost()
                return []
            raise
        entries = _wb_entries(reply[1] if len(reply) > 1 else [])
        if entries:
            get_logger().info("write-behind: reclaimed %d idle queued turns", len(entries))
        return entries

    async def _queue_lost(self) -> None:
        """The stream or its group vanished (Redis restarted empty, a flush, an eviction):
        recreate it, and write what this process queued into it directly, without waiting
        for the periodic check, so other workers find those rows in the database at once."""
        self._group_ready = False
        await self._write_unconfirmed("Redis lost the write-behind queue")

    async def _commit(self, entries: list[WbEntry]) -> int:
        turns: list[QueuedTurn] = []
        done: list[str] = []
        for entry_id, raw in entries:
            done.append(entry_id)
            if raw is None:
                continue  # deleted while pending: someone committed it
            try:
                turns.append(QueuedTurn.unpack(raw))
            except (ValueError, TypeError, KeyError) as exc:
                get_logger().error(
                    "write-behind: dropping unreadable queue entry %s (%s)", entry_id, exc
                )
        if turns:
            try:
                await asyncio.wait_for(self.store.commit_turns(turns), FLUSH_TIMEOUT_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._db_failed(exc, len(turns))
                return 0
        if self.db_failures:
            get_logger().warning(
                "write-behind: the database accepts writes again after %d failures",
                self.db_failures,
            )
        self.db_failures = 0
        store = self.store

        async def ack(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            pipe.xack(store.stream, GROUP, *done)
            pipe.xdel(store.stream, *done)
            return await pipe.execute()

        await store.link.run(ack)
        now = time.time()
        self.lags.extend(now - t.enqueued for t in turns)
        self.flushed_turns += len(turns)
        return len(turns)

    def _db_failed(self, exc: BaseException, count: int) -> None:
        self.db_failures += 1
        self._retry_own = True
        if self.db_failures in (1, 5, 20) or self.db_failures % 100 == 0:
            get_logger().warning(
                "write-behind: database write failed (%s, %d in a row); %d turns stay queued "
                "and are retried",
                type(exc).__name__,
                self.db_failures,
                count,
            )

    # ------------------------------------------------------------------ housekeeping

    def spill(self, entry: str, turn: QueuedTurn) -> None:
        """Too many turns waiting for confirmation: check this one at the next pass."""
        self._spilled.append(turn)

    async def maintain(self, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now < self._next_maintain:
            return
        self._next_maintain = now + FLUSH_MAINTAIN_SECONDS
        store = self.store
        depth = int(await store.link.run(lambda c: c.xlen(store.stream)))
        if depth > store.policy.warn_depth and not self._depth_warned:
            self._depth_warned = True
            get_logger().warning(
                "write-behind: %d turns wait for the database (threshold %d)",
                depth,
                store.policy.warn_depth,
            )
        elif depth <= store.policy.warn_depth // 2 and self._depth_warned:
            self._depth_warned = False
            get_logger().info("write-behind: queue back to %d turns", depth)
        spilled, self._spilled = self._spilled, []
        for turn in spilled:
            await self._confirm_or_write({"": turn})
        cutoff = time.time() - (0 if final else store.policy.confirm_seconds)
        old = {e: t for e, t in store.unconfirmed.items() if t.enqueued <= cutoff}
        if old:
            await self._confirm(old)

    async def _confirm(self, turns: dict[str, QueuedTurn]) -> None:
        """Turns that left the stream are committed, unless Redis lost them: check those."""
        store = self.store

        async def present(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for entry_id in turns:
                pipe.xrange(store.stream, min=entry_id, max=entry_id, count=1)
            return list(await pipe.execute())

        replies = await store.link.run(present)
        gone = {e: t for (e, t), r in zip(turns.items(), replies, strict=True) if not r}
        await self._confirm_or_write(gone)

    async def _confirm_or_write(self, gone: dict[str, QueuedTurn]) -> None:
        store = self.store
        ids = [row.id for turn in gone.values() for row in turn.rows]
        try:
            existing = await store.existing_ids(ids)
        except Exception:
            return  # the database is down: ask again next pass
        lost = {e: t for e, t in gone.items() if any(r.id not in existing for r in t.rows)}
        if lost:
            get_logger().warning(
                "write-behind: Redis lost %d queued turns (restarted without persistence?); "
                "writing them directly",
                len(lost),
            )
            try:
                await store.commit_turns(list(lost.values()))
            except Exception:
                return  # keep them; the next pass tries again
            store.direct_writes += len(lost)
        for entry_id in gone:
            store.unconfirmed.pop(entry_id, None)

    async def _redis_gone(self) -> None:
        """Redis unreachable: what this process queued goes straight to the database now. The
        queue may be gone with Redis, and while a worker's link is down its reads skip Redis,
        so the database is where the next turn (on any worker) looks. If Redis comes back
        with the queue, the second write changes nothing."""
        await self._write_unconfirmed("Redis is unavailable")

    async def _write_unconfirmed(self, why: str) -> None:
        store = self.store
        turns = list(store.unconfirmed.items()) + [("", t) for t in self._spilled]
        if not turns:
            return
        try:
            await store.commit_turns([t for _, t in turns])
        except Exception as exc:
            get_logger().warning(
                "write-behind: %s and the database refused %d turns (%s); retrying",
                why,
                len(turns),
                type(exc).__name__,
            )
            return
        store.direct_writes += len(turns)
        get_logger().warning("write-behind: %s; wrote %d queued turns directly", why, len(turns))
        for entry_id, _ in turns:
            store.unconfirmed.pop(entry_id, None)
        self._spilled = []
