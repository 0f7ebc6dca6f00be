"""One fetch per TTL for the whole fleet: a shared copy of a payload, fetched by one worker.

Used for the model catalog. The entry is a Redis hash (`fp`: fingerprint of the settings that
produced it, `body`: the payload) expiring after the TTL. A worker whose settings fingerprint
differs (an operator saved new valves) treats the entry as stale, so a valve change
invalidates the copy on every worker at its next call. A miss takes a short lock (SET NX PX)
so only one worker fetches; the others wait for its entry, and fetch themselves only if the
fetcher gave up or took longer than the lock. Redis unavailable: every worker fetches alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from .redislink import RedisLink, RedisUnavailable

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
WAIT_POLL_SECONDS = 0.05


class FleetCache:
    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._release: Any = link.client.register_script(_RELEASE)
        self.fetches = 0  # fetches done by this process through the cache (tests)

    async def _read(self, name: str, fingerprint: str) -> tuple[bytes, float] | None:
        """(payload, seconds left) of a matching entry, or None."""
        key = self._link.key("cache", name)

        async def op(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            pipe.hmget(key, "fp", "body")
            pipe.pttl(key)
            return list(await pipe.execute())

        (fp, body), millis = await self._link.run(op)
        if body is None or fp is None or fp.decode() != fingerprint or millis <= 0:
            return None
        return body, millis / 1000

    async def _write(self, name: str, fingerprint: str, body: bytes, ttl: float) -> None:
        key = self._link.key("cache", name)

        async def op(client: Any) -> Any:
            pipe = client.pipeline(transaction=True)
            pipe.delete(key)
            pipe.hset(key, mapping={"fp": fingerprint, "body": body})
            pipe.pexpire(key, max(1, int(ttl * 1000)))
            return await pipe.execute()

        await self._link.run(op)

    async def get(
        self,
        name: str,
        fingerprint: str,
        ttl: float,
        fetch: Callable[[], Awaitable[bytes]],
        lock_seconds: float = 30.0,
    ) -> tuple[bytes, float]:
        """(payload, seconds of freshness left): the fleet's copy, or a fresh fetch shared
        with the fleet. `fetch` errors propagate (the caller has its own backoff)."""
        try:
            found = await self._read(name, fingerprint)
            if found is not None:
                return found
            token = secrets.token_hex(8)
            lock = self._link.key("cache", name, "lock")
            millis = int(lock_seconds * 1000)
            got = await self._link.run(lambda c: c.set(lock, token, nx=True, px=millis))
        except RedisUnavailable:
            return await self._fetch(fetch), ttl
        if got:
            try:
                body = await self._fetch(fetch)
                with contextlib.suppress(RedisUnavailable):
                    await self._write(name, fingerprint, body, ttl)
                return body, ttl
            finally:
                with contextlib.suppress(RedisUnavailable):
                    await self._link.run(
                        lambda c: self._release(keys=[lock], args=[token], client=c)
                    )
        return await self._wait_for_fetcher(name, fingerprint, ttl, fetch, lock, lock_seconds)

    async def _wait_for_fetcher(
        self,
        name: str,
        fingerprint: str,
        ttl: float,
        fetch: Callable[[], Awaitable[bytes]],
        lock: str,
        lock_seconds: float,
    ) -> tuple[bytes, float]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lock_seconds
        try:
            while loop.time() < deadline:
                await asyncio.sleep(WAIT_POLL_SECONDS)
                found = await self._read(name, fingerprint)
                if found is not None:
                    return found
                if not await self._link.run(lambda c: c.exists(lock)):
                    found = await self._read(name, fingerprint)  # written just before release?
                    if found is not None:
                        return found
                    break  # the fetcher failed: try ourselves
        except RedisUnavailable:
            pass
        return await self._fetch(fetch), ttl

    async def _fetch(self, fetch: Callable[[], Awaitable[bytes]]) -> bytes:
        self.fetches += 1
        return await fetch()
