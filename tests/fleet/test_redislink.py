"""The pipe's Redis link against a real redis-server that crashes and comes back."""

from __future__ import annotations

import asyncio

import pytest

from pipe.redislink import RedisLink, RedisUnavailable
from simulator.services.redis_server import RedisServer


async def test_a_redis_restart_is_not_taken_for_outages_once_the_server_is_back(
    redis_server: RedisServer,
) -> None:
    """Pooled connections to the killed server each fail once; the link must retry on a fresh
    connection instead of declaring Redis down (and sending writes to the database) for each."""
    link = RedisLink(redis_server.url)
    clients = [link.run(lambda c, i=i: c.set(f"k{i}", "v")) for i in range(4)]
    await asyncio.gather(*clients)  # four pooled connections
    redis_server.kill()
    redis_server.start()
    for i in range(4):
        assert await link.run(lambda c, i=i: c.set(f"k{i}", "again"))
    assert link.outages == 0
    await link.aclose()


async def test_a_redis_that_is_really_down_is_still_reported_at_once(
    redis_server: RedisServer,
) -> None:
    link = RedisLink(redis_server.url)
    await link.run(lambda c: c.ping())
    redis_server.kill()
    with pytest.raises(RedisUnavailable):
        await link.run(lambda c: c.ping())
    assert link.outages == 1
    redis_server.start()
    await link.aclose()
