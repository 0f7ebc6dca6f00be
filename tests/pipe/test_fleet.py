"""Shared state between workers (fakeredis units): the Redis link, cool-down windows, the
fleet-wide concurrency budget and the fleet-wide cache. Two objects on one FakeServer are two
workers; `server.connected = False` is Redis going away."""

from __future__ import annotations

import asyncio
import logging

import fakeredis
import pytest

from pipe.admission import AdmissionController
from pipe.errors import ErrorKind, PipeError
from pipe.fleetcache import FleetCache
from pipe.holds import Holds
from pipe.leases import BudgetedAdmission, LeaseBudget
from pipe.redislink import RedisLink, RedisUnavailable, redis_label

URL = "redis://:s3cret-pass@127.0.0.1:6399/0"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def worker(server: fakeredis.FakeServer, clock=None) -> RedisLink:
    client = fakeredis.FakeAsyncRedis(server=server)
    if clock is None:
        return RedisLink(URL, client, namespace="t")
    return RedisLink(URL, client, namespace="t", clock=clock)


def test_the_redis_label_never_shows_the_password() -> None:
    assert redis_label(URL) == "redis://127.0.0.1:6399/0"
    assert "s3cret" not in redis_label("rediss://user:s3cret@h:1/2")
    assert redis_label("not a url") == "redis (unparsable URL)"


async def test_an_outage_is_logged_once_skipped_fast_and_its_end_logged(
    fake_redis_server, caplog
) -> None:
    clock = Clock()
    link = worker(fake_redis_server, clock)
    caplog.set_level(logging.INFO, logger="openrouter_pipe")
    assert await link.run(lambda c: c.ping())
    fake_redis_server.connected = False
    for _ in range(5):
        with pytest.raises(RedisUnavailable):
            await link.run(lambda c: c.ping())
    down = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(down) == 1 and link.outages == 1
    assert "s3cret" not in caplog.text
    fake_redis_server.connected = True
    with pytest.raises(RedisUnavailable):  # known down: not even tried before the retry time
        await link.run(lambda c: c.ping())
    clock.now += 5
    assert await link.run(lambda c: c.ping())
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_a_command_error_is_not_taken_for_an_outage(fake_redis_server) -> None:
    from redis.exceptions import ResponseError

    link = worker(fake_redis_server)
    await link.run(lambda c: c.set("k", "v"))
    with pytest.raises(ResponseError):
        await link.run(lambda c: c.lpush("k", "x"))  # WRONGTYPE
    assert not link.down and link.outages == 0


async def test_a_probe_answered_with_a_command_error_ends_the_outage(fake_redis_server) -> None:
    """After a restart the first command may well be refused (a consumer group the restart
    lost); Redis answered, so every caller may use it again at once, not 2 s later."""
    from redis.exceptions import ResponseError

    clock = Clock()
    link = worker(fake_redis_server, clock)
    await link.run(lambda c: c.set("k", "v"))
    fake_redis_server.connected = False
    with pytest.raises(RedisUnavailable):
        await link.run(lambda c: c.ping())
    fake_redis_server.connected = True
    clock.now += 5
    with pytest.raises(ResponseError):
        await link.run(lambda c: c.lpush("k", "x"))  # the probe: WRONGTYPE
    assert not link.down
    assert await link.run(lambda c: c.ping())  # no wait for another probe


async def test_a_hold_learned_by_one_worker_makes_every_worker_wait(fake_redis_server) -> None:
    a, b = Holds(worker(fake_redis_server)), Holds(worker(fake_redis_server))
    assert await b.held("rate:k:m") is None
    await a.hold("rate:k:m", 30, "429 from OpenRouter")
    hold = await b.held("rate:k:m", "auth:k")
    assert hold is not None and 29 < hold.remaining <= 30 and hold.reason == "429 from OpenRouter"


async def test_a_shorter_hold_never_cuts_a_longer_one_short(fake_redis_server) -> None:
    a, b = Holds(worker(fake_redis_server)), Holds(worker(fake_redis_server))
    await a.hold("auth:k", 60, "401")
    await b.hold("auth:k", 1, "401 again")
    hold = await Holds(worker(fake_redis_server)).held("auth:k")
    assert hold is not None and hold.remaining > 50


async def test_holds_expire_by_themselves(fake_redis_server) -> None:
    a, b = Holds(worker(fake_redis_server)), Holds(worker(fake_redis_server))
    await a.hold("rate:k:m", 0.05, "429")
    await asyncio.sleep(0.1)
    assert await b.held("rate:k:m") is None
    assert await a.held("rate:k:m") is None


async def test_with_redis_down_a_worker_still_honours_what_it_learned(fake_redis_server) -> None:
    holds = Holds(worker(fake_redis_server))
    fake_redis_server.connected = False
    await holds.hold("auth:k", 30, "401")
    hold = await holds.held("auth:k")
    assert hold is not None and hold.reason == "401"
    assert await Holds().held("auth:k") is None  # a worker without Redis knows nothing of it


async def test_the_budget_is_shared_and_a_full_one_is_refused_after_the_wait(
    fake_redis_server,
) -> None:
    a, b = LeaseBudget(worker(fake_redis_server)), LeaseBudget(worker(fake_redis_server))
    first = await a.acquire(limit=2, max_wait=0)
    second = await b.acquire(limit=2, max_wait=0)
    assert first and second
    with pytest.raises(PipeError) as err:
        await a.acquire(limit=2, max_wait=0.1)
    assert err.value.kind is ErrorKind.BUSY and "2 requests" in err.value.message
    waiter = asyncio.create_task(b.acquire(limit=2, max_wait=5))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await a.release(first)
    assert await asyncio.wait_for(waiter, 2)
    await b.release(second)
    await b.release(waiter.result())
    assert await fake_redis_server_zcard(fake_redis_server, a.key) == 0
    await a.aclose()
    await b.aclose()


async def test_a_request_refused_by_the_fleet_budget_gives_its_worker_slot_back(
    fake_redis_server,
) -> None:
    """The worker's own slot is taken first; when the fleet-wide budget then says "busy",
    that slot is given back at once, and an admitted request gives back both."""
    local = AdmissionController(limit=5, queue_size=5)
    budget = LeaseBudget(worker(fake_redis_server))
    admission = BudgetedAdmission(local, budget, limit=1, max_wait=0.05)
    other = await LeaseBudget(worker(fake_redis_server)).acquire(limit=1, max_wait=0)
    with pytest.raises(PipeError) as err:
        async with admission.slot():
            pytest.fail("admitted past a full fleet budget")
    assert err.value.kind is ErrorKind.BUSY
    assert local.running == 0
    await budget.release(other)
    async with admission.slot() as slot:
        assert local.running == 1
        assert await fake_redis_server_zcard(fake_redis_server, budget.key) == 1
    assert local.running == 0 and slot.tasks == 0
    for _ in range(50):  # the lease goes back in a task of its own, just after
        if await fake_redis_server_zcard(fake_redis_server, budget.key) == 0:
            break
        await asyncio.sleep(0.01)
    assert await fake_redis_server_zcard(fake_redis_server, budget.key) == 0
    await budget.aclose()


async def fake_redis_server_zcard(server: fakeredis.FakeServer, key: str) -> int:
    return await fakeredis.FakeAsyncRedis(server=server).zcard(key)


async def test_a_dead_workers_lease_expires_and_frees_its_capacity(fake_redis_server) -> None:
    dead = LeaseBudget(worker(fake_redis_server), ttl=1.0)
    assert await dead.acquire(limit=1, max_wait=0)
    if dead._renewer is not None:  # the worker dies: nothing renews its lease any more
        dead._renewer.cancel()
    alive = LeaseBudget(worker(fake_redis_server), ttl=1.0)
    with pytest.raises(PipeError):
        await alive.acquire(limit=1, max_wait=0)
    lease = await alive.acquire(limit=1, max_wait=1.6)  # before the whole key expires (2 s)
    assert lease is not None
    await alive.aclose()


async def test_a_held_lease_is_renewed_past_its_ttl(fake_redis_server) -> None:
    a = LeaseBudget(worker(fake_redis_server), ttl=1.0)
    lease = await a.acquire(limit=1, max_wait=0)
    await asyncio.sleep(1.6)
    with pytest.raises(PipeError):
        await LeaseBudget(worker(fake_redis_server), ttl=1.0).acquire(limit=1, max_wait=0)
    await a.release(lease)
    await a.aclose()


async def test_with_redis_down_the_budget_lets_requests_through(fake_redis_server) -> None:
    budget = LeaseBudget(worker(fake_redis_server))
    fake_redis_server.connected = False
    assert await budget.acquire(limit=1, max_wait=0) is None
    assert await budget.acquire(limit=1, max_wait=0) is None
    await budget.release(None)


async def test_concurrent_misses_on_two_workers_fetch_once(fake_redis_server) -> None:
    calls = 0

    async def fetch() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.1)
        return b'{"data": []}'

    a, b = FleetCache(worker(fake_redis_server)), FleetCache(worker(fake_redis_server))
    results = await asyncio.gather(
        a.get("catalog", "fp1", 60, fetch), b.get("catalog", "fp1", 60, fetch)
    )
    assert calls == 1
    assert [r[0] for r in results] == [b'{"data": []}'] * 2
    _, left = await FleetCache(worker(fake_redis_server)).get("catalog", "fp1", 60, fetch)
    assert calls == 1 and 59 < left <= 60
    await b.get("catalog", "fp2", 60, fetch)  # new settings: the shared copy is stale
    assert calls == 2


async def test_a_failed_fetcher_lets_the_waiting_worker_fetch(fake_redis_server) -> None:
    async def failing() -> bytes:
        await asyncio.sleep(0.1)
        raise PipeError(ErrorKind.SERVER, "down")

    async def working() -> bytes:
        return b"ok"

    a, b = FleetCache(worker(fake_redis_server)), FleetCache(worker(fake_redis_server))
    first = asyncio.create_task(a.get("c", "fp", 60, failing))
    await asyncio.sleep(0.02)
    assert await b.get("c", "fp", 60, working) == (b"ok", 60)
    with pytest.raises(PipeError):
        await first


async def test_with_redis_down_every_worker_fetches_alone(fake_redis_server) -> None:
    cache = FleetCache(worker(fake_redis_server))
    fake_redis_server.connected = False

    async def fetch() -> bytes:
        return b"x"

    assert await cache.get("c", "fp", 60, fetch) == (b"x", 60)
    assert cache.fetches == 1
