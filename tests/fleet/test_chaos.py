"""Chaos on whole chat servers: two `orsim serve-host` replicas running the exported pipe,
streaming real chats from the fake OpenRouter, sharing a real redis-server and a real
PostgreSQL, with servers killed and stopped under them (tests/fleet/chatfleet.py).

Every chat alternates its turns between the replicas. Every case ends with: each artifact a
marker promised is in the database exactly once (nothing lost, nothing duplicated), every turn
answered or failed with a clear error, no request hung (client timeouts), nothing left queued
or pending, no fleet-wide lease left, and a last round of turns replaying each chat's whole
history on alternating replicas.
"""

from __future__ import annotations

import asyncio

import httpx
import psycopg
import pytest
import redis

from pipe.storage.schema import ARTIFACT_TABLE
from simulator.export import export_function
from simulator.scenarios.fleet import queued_turns
from simulator.services.redis_server import RedisServer, free_port
from tests.fleet.chatfleet import (
    HEADERS,
    LEASES,
    MODEL,
    all_stored,
    assert_clean,
    assert_exactly_once,
    assert_replayed_in_full,
    eventually,
    kill_replica,
    new_chats,
    pending_of,
    round_of_turns,
    start_replica,
    stored_ids,
    wait_until,
)

pytestmark = pytest.mark.timeout(150)
CHATS = 4


@pytest.fixture
def pipe_file(tmp_path):
    return export_function(tmp_path / "openrouter.py")


def two_replicas(serve_host, pipe_file, sim, redis_url, db_url, **valves):
    return [start_replica(serve_host, pipe_file, sim, redis_url, db_url, **valves) for _ in "ab"]


async def test_redis_killed_mid_flush_and_restarted_empty_loses_no_artifact(
    serve_host, pipe_file, openrouter_sim, redis_server: RedisServer, postgres_url: str
) -> None:
    replicas = two_replicas(serve_host, pipe_file, openrouter_sim, redis_server.url, postgres_url)
    chats = new_chats(CHATS, "redis-kill")
    locker = psycopg.connect(postgres_url)
    async with httpx.AsyncClient() as http:
        await round_of_turns(http, chats, replicas)
        await eventually(all_stored(postgres_url, chats), 20, "the first round stored")
        locker.execute(f"LOCK TABLE {ARTIFACT_TABLE} IN EXCLUSIVE MODE")  # flushes now wait
        await round_of_turns(http, chats, replicas)
        await eventually(lambda: pending_of(redis_server.url), 10, "a flusher holding a batch")
        await round_of_turns(http, chats, replicas)  # queued behind the blocked flushers
        assert queued_turns(redis_server.url) > len(pending_of(redis_server.url))
        redis_server.kill()  # queued turns and cached rows die with it
        locker.rollback()
        redis_server.start()  # same port, empty
        during = await round_of_turns(http, chats, replicas)  # Redis back, queue lost
        await eventually(all_stored(postgres_url, chats), 30, "what Redis lost, rewritten")
        last = await round_of_turns(http, chats, replicas)
    locker.close()
    # Answered at once; a turn this soon after the crash, on the other replica, may replay
    # without the turns Redis lost (not yet rewritten): docs/multi-worker.md says so.
    assert all(not t.error for t in during)
    assert_replayed_in_full(openrouter_sim, last)
    await eventually(all_stored(postgres_url, chats), 30, "the last round stored")
    assert_exactly_once(postgres_url, chats)
    assert_clean(redis_server.url)


async def test_a_chat_server_killed_mid_flush_with_chats_in_flight_is_reclaimed_by_the_other(
    serve_host, pipe_file, openrouter_sim, redis_server: RedisServer, postgres_url: str
) -> None:
    doomed, survivor = two_replicas(
        serve_host, pipe_file, openrouter_sim, redis_server.url, postgres_url
    )
    chats = new_chats(CHATS, "replica-kill")
    client = redis.Redis.from_url(redis_server.url)
    async with httpx.AsyncClient() as http:
        await round_of_turns(http, chats, [doomed, survivor])
        await eventually(all_stored(postgres_url, chats), 20, "the first round stored")
        locker = psycopg.connect(postgres_url)
        locker.execute(f"LOCK TABLE {ARTIFACT_TABLE} IN EXCLUSIVE MODE")
        await round_of_turns(http, chats, [doomed, survivor])
        doomed_pid = str(doomed.process.pid).encode()

        def doomed_holds_a_batch() -> bool:
            return any(
                b":" + doomed_pid + b":" in p["consumer"] for p in pending_of(redis_server.url)
            )

        await eventually(doomed_holds_a_batch, 10, "the doomed replica's flusher to take a batch")
        # Two chats in flight on the doomed replica: slow answers, under way when it dies.
        openrouter_sim.enqueue(*({"script": {"text": "never finished"}, "ttft": 30},) * 2)
        in_flight = [
            asyncio.create_task(
                http.post(
                    f"{doomed.url}/api/chat/completions",
                    headers=HEADERS,
                    json={
                        "model": MODEL,
                        "stream": True,
                        "chat_id": f"cut-{i}",
                        "messages": [{"role": "user", "content": f"cut {i}"}],
                    },
                    timeout=30,
                )
            )
            for i in range(2)
        ]
        await eventually(lambda: client.zcard(LEASES) >= 2, 10, "the in-flight chats' leases")
        kill_replica(doomed)
        for task in in_flight:
            with pytest.raises(httpx.HTTPError):  # the client sees the server go away
                await task
        locker.rollback()
        locker.close()
        # The survivor claims the dead replica's batch (idle > WRITE_BEHIND_CLAIM_SECONDS).
        await eventually(all_stored(postgres_url, chats), 30, "the dead replica's turns")
        await eventually(lambda: not pending_of(redis_server.url), 10, "nothing pending")
        # A supervisor starts a new replica; the chats go on alternating, history intact.
        fresh = start_replica(serve_host, pipe_file, openrouter_sim, redis_server.url, postgres_url)
        last = await round_of_turns(http, chats, [fresh, survivor])
    assert_replayed_in_full(openrouter_sim, last)
    await eventually(all_stored(postgres_url, chats), 30, "the last round stored")
    assert_exactly_once(postgres_url, chats)
    # The dead replica's leases expire (GLOBAL_LEASE_SECONDS = 3).
    await eventually(lambda: client.zcard(LEASES) == 0, 10, "the dead replica's leases to expire")
    assert_clean(redis_server.url)


async def test_claims_expiring_during_a_slow_write_race_two_flushers_without_duplicates(
    serve_host, pipe_file, openrouter_sim, redis_server: RedisServer, postgres_url: str
) -> None:
    replicas = two_replicas(serve_host, pipe_file, openrouter_sim, redis_server.url, postgres_url)
    chats = new_chats(CHATS, "race")
    async with httpx.AsyncClient() as http:
        await round_of_turns(http, chats, replicas)
        locker = psycopg.connect(postgres_url)
        locker.execute(f"LOCK TABLE {ARTIFACT_TABLE} IN EXCLUSIVE MODE")
        # One turn: one flusher takes it and blocks in the database; the other stays free.
        await chats[0].say(http, replicas)

        def delivered_twice() -> bool:  # a batch claimed by the other replica while blocked
            return any(p["times_delivered"] >= 2 for p in pending_of(redis_server.url))

        await eventually(delivered_twice, 20, "the other flusher to claim a blocked batch")
        locker.rollback()
        locker.close()
        await eventually(all_stored(postgres_url, chats), 30, "both flushers")
        last = await round_of_turns(http, chats, replicas)
    assert_replayed_in_full(openrouter_sim, last)
    await eventually(all_stored(postgres_url, chats), 30, "the last round stored")
    await eventually(lambda: not pending_of(redis_server.url), 10, "nothing pending")
    assert_exactly_once(postgres_url, chats)
    assert_clean(redis_server.url)


async def test_a_database_outage_is_ridden_out_chats_replay_from_redis_and_writes_catch_up(
    serve_host, pipe_file, openrouter_sim, redis_server: RedisServer, postgres_server, postgres_url
) -> None:
    replicas = two_replicas(serve_host, pipe_file, openrouter_sim, redis_server.url, postgres_url)
    chats = new_chats(CHATS, "db-down")
    async with httpx.AsyncClient() as http:
        await round_of_turns(http, chats, replicas)
        await eventually(all_stored(postgres_url, chats), 20, "the first round stored")
        before = len(stored_ids(postgres_url))
        postgres_server.stop_accepting()
        try:
            during = [await round_of_turns(http, chats, replicas) for _ in range(2)]
        finally:
            postgres_server.resume()
        await eventually(all_stored(postgres_url, chats), 40, "the queued turns written")
        last = await round_of_turns(http, chats, replicas)
    # While the database was down, chats were answered and replayed their history (from Redis).
    for turns in during:
        assert_replayed_in_full(openrouter_sim, turns)
    assert_replayed_in_full(openrouter_sim, last)
    assert before < len(stored_ids(postgres_url))
    await eventually(all_stored(postgres_url, chats), 30, "the last round stored")
    assert_exactly_once(postgres_url, chats)
    assert_clean(redis_server.url)


async def test_redis_refusing_from_the_start_the_chats_write_directly_and_replay(
    serve_host, pipe_file, openrouter_sim, postgres_url: str
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    replicas = two_replicas(serve_host, pipe_file, openrouter_sim, closed, postgres_url)
    chats = new_chats(CHATS, "no-redis")
    async with httpx.AsyncClient() as http:
        rounds = [await round_of_turns(http, chats, replicas) for _ in range(3)]
    for turns in rounds:
        assert_replayed_in_full(openrouter_sim, turns)
    assert_exactly_once(postgres_url, chats)  # written directly: there at once, no waiting


async def test_a_worker_killed_holding_a_fleet_lease_gives_the_capacity_back(
    tmp_path, serve_host, openrouter_sim, redis_server: RedisServer
) -> None:
    """Two replicas (one worker each) share a fleet-wide budget of one request. The replica
    holding the only lease is killed -9 mid-answer; the other one's chat waits for the lease
    to expire (GLOBAL_LEASE_SECONDS) and is answered; nothing is left in the lease set."""
    from tests.fleet.test_workers import start_fleet

    pipe_file = export_function(tmp_path / "openrouter.py")
    valves = {"GLOBAL_MAX_CONCURRENT_REQUESTS": 1, "GLOBAL_LEASE_SECONDS": 3}
    a, b = (
        start_fleet(serve_host, pipe_file, openrouter_sim, "--redis", redis_server.url,
                    workers=1, **valves)
        for _ in range(2)
    )  # fmt: skip
    client = redis.Redis.from_url(redis_server.url)
    openrouter_sim.enqueue({"script": {"text": "never seen"}, "ttft": 60})
    body = {"model": "openrouter.openai.gpt-4o-mini", "stream": True,
            "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    async with httpx.AsyncClient(timeout=60) as http:
        held = asyncio.create_task(
            http.post(f"{a.url}/api/chat/completions", headers=HEADERS, json=body)
        )
        await asyncio.to_thread(wait_until, lambda: client.zcard(LEASES) == 1, 20, "the lease")
        await asyncio.to_thread(  # mid-answer: the slow upstream call is under way
            wait_until, lambda: openrouter_sim.requests_to("/responses"), 20, "the upstream call"
        )
        kill_replica(a)  # the replica dies holding the lease
        with pytest.raises(httpx.HTTPError):
            await held
        reply = await http.post(f"{b.url}/api/chat/completions", headers=HEADERS, json=body)
    assert reply.status_code == 200 and "data: [DONE]" in reply.text
    assert "busy" not in reply.text.lower()
    # The lease is given back just after the last byte went out; well within its 3 s TTL, so
    # this sees the release itself, not an expiry (a leaked lease would be renewed forever).
    await eventually(lambda: client.zcard(LEASES) == 0, 2, "the answered chat's lease back")
