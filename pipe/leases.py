"""A concurrency budget shared by every worker: leases that expire unless renewed.

Each running request holds one lease: a member of one Redis sorted set scored by its expiry
(Redis server time, so workers on several machines agree). Taking a lease first drops expired
ones, so a worker killed mid-request gives its capacity back after `ttl` at the latest. One
task per process renews all of its leases every `ttl / 3`. A full budget is waited for (polling,
up to `max_wait`), then refused with a clear "busy" error. Redis down: the request goes ahead
under the per-worker limit alone (`RedisLink` logs the outage once).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
from contextlib import AbstractAsyncContextManager
from typing import Any

from .admission import AdmissionController, SlotLease
from .errors import ErrorKind, PipeError
from .logs import get_logger
from .redislink import RedisLink, RedisUnavailable

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
_TAKE = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0
"""
)
_RENEW = (
    _NOW_MS
    + """
local ttl = tonumber(ARGV[1])
local renewed = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[i])
    renewed = renewed + 1
  end
end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return renewed
"""
)
POLL_FIRST, POLL_MAX = 0.02, 0.25


class LeaseBudget:
    def __init__(self, link: RedisLink, name: str = "requests", ttl: float = 30.0) -> None:
        self._link = link
        self.key = link.key("leases", name)
        self.ttl = ttl
        self._held: set[str] = set()
        self._take: Any = link.client.register_script(_TAKE)
        self._renew: Any = link.client.register_script(_RENEW)
        self._renewer: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        return len(self._held)

    async def acquire(self, limit: int, max_wait: float) -> str | None:
        """A lease id; None when Redis is unavailable (go ahead); PipeError(BUSY) when full."""
        lease = f"{secrets.token_hex(8)}"
        millis = max(1000, int(self.ttl * 1000))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        delay = POLL_FIRST
        while True:
            try:
                taken = await self._link.run(
                    lambda c: self._take(keys=[self.key], args=[limit, millis, lease], client=c)
                )
            except RedisUnavailable:
                return None
            if taken:
                self._held.add(lease)
                self._ensure_renewer()
                return lease
            if loop.time() + delay > deadline:
                raise PipeError(
                    ErrorKind.BUSY,
                    f"All {limit} requests allowed across the workers are running.",
                    retryable=False,
                )
            await asyncio.sleep(delay)
            delay = min(POLL_MAX, delay * 2)

    async def release(self, lease: str | None) -> None:
        if lease is None:
            return
        self._held.discard(lease)  # no longer renewed: it expires even if the ZREM fails
        with contextlib.suppress(RedisUnavailable):
            await self._link.run(lambda c: c.zrem(self.key, lease))

    def _ensure_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_loop(), name="lease-renewer")

    async def _renew_loop(self) -> None:
        while self._held:
            await asyncio.sleep(self.ttl / 3)
            leases = list(self._held)
            if not leases:
                break
            args: list[Any] = [int(self.ttl * 1000), *leases]

            async def renew(client: Any, args: list[Any] = args) -> int:
                return int(await self._renew(keys=[self.key], args=args, client=client))

            try:
                renewed = await self._link.run(renew)
            except RedisUnavailable:
                continue
            except Exception as exc:  # the renewer must outlive one bad reply
                get_logger().warning("lease renewal failed: %s", type(exc).__name__)
                continue
            if renewed < len(leases):
                get_logger().warning(
                    "%d of %d fleet leases had expired before renewal (event loop stalled?)",
                    len(leases) - renewed,
                    len(leases),
                )

    async def aclose(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._renewer
        for lease in list(self._held):
            await self.release(lease)


class BudgetedAdmission:
    """The per-worker limit first, then a lease from the fleet-wide budget (when one is set)."""

    def __init__(
        self, local: AdmissionController, budget: LeaseBudget | None, limit: int, max_wait: float
    ) -> None:
        self.local = local
        self.budget = budget if limit > 0 else None
        self.limit = limit
        self.max_wait = max_wait

    def slot(self) -> AbstractAsyncContextManager[SlotLease]:
        if self.budget is None:
            return self.local.slot()
        return _BudgetedSlot(self.local.slot(), self.budget, self.limit, self.max_wait)


class _BudgetedSlot:
    """The local slot, then a fleet lease; the lease is given back with the local slot, when
    the upstream is closed, not before."""

    __slots__ = ("_budget", "_limit", "_max_wait", "_slot")

    def __init__(self, slot: SlotLease, budget: LeaseBudget, limit: int, max_wait: float) -> None:
        self._slot = slot
        self._budget = budget
        self._limit = limit
        self._max_wait = max_wait

    async def __aenter__(self) -> SlotLease:
        slot = await self._slot.__aenter__()
        try:
            lease = await self._budget.acquire(self._limit, self._max_wait)
        except BaseException:
            await slot.__aexit__(None, None, None)
            raise
        slot.on_release(functools.partial(self._budget.release, lease))
        return slot

    async def __aexit__(self, *exc_info: object) -> None:
        await self._slot.__aexit__(*exc_info)
