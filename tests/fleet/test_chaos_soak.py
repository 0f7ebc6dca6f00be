"""A longer chaos run on whole chat servers, behind an explicit switch (minutes, not seconds):

    ORSIM_CHAOS_SOAK=1 pytest tests/fleet/test_chaos_soak.py    # ORSIM_CHAOS_ROUNDS=N (30)

Two `orsim serve-host` replicas, a real redis-server and a real PostgreSQL; eight chats keep
alternating their turns between the replicas while, round after round, one fault is applied
and undone in turn: Redis killed and restarted empty, a replica killed -9 and replaced,
PostgreSQL stopped and started, the artifact table locked for a while. It ends like every
chaos case (tests/fleet/test_chaos.py): every promised artifact stored exactly once, every
turn answered (or cut by its replica's death), nothing queued or pending, no lease left, and
a last round replaying each chat's whole history.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import psycopg
import pytest

from pipe.storage.database import Breaker
from pipe.storage.schema import ARTIFACT_TABLE
from simulator.export import export_function
from tests.fleet.chatfleet import (
    all_stored,
    assert_clean,
    assert_exactly_once,
    assert_replayed_in_full,
    eventually,
    kill_replica,
    new_chats,
    round_of_turns,
    start_replica,
)

BREAKER_COOLDOWN = Breaker().cooldown

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("ORSIM_CHAOS_SOAK") != "1", reason="a soak: set ORSIM_CHAOS_SOAK=1"
    ),
    pytest.mark.timeout(3600),
]


async def test_chats_survive_rounds_of_faults_with_every_artifact_stored_once(
    tmp_path, serve_host, openrouter_sim, redis_server, postgres_server, postgres_url
) -> None:
    rounds = int(os.environ.get("ORSIM_CHAOS_ROUNDS", "30"))
    pipe_file = export_function(tmp_path / "openrouter.py")

    def replica():
        return start_replica(serve_host, pipe_file, openrouter_sim, redis_server.url, postgres_url)

    replicas = [replica(), replica()]
    chats = new_chats(8, "soak")
    cut = 0
    db_back = 0.0
    async with httpx.AsyncClient() as http:
        await round_of_turns(http, chats, replicas)
        await eventually(all_stored(postgres_url, chats), 30, "the first round stored")
        for n in range(rounds):
            fault = n % 4
            if fault == 0:
                redis_server.kill()
                redis_server.start()
            elif fault == 1:
                kill_replica(replicas[n % 2])
                replicas[n % 2] = replica()
            elif fault == 2:
                postgres_server.stop_accepting()
            else:
                locker = psycopg.connect(postgres_url)
                locker.execute(f"LOCK TABLE {ARTIFACT_TABLE} IN EXCLUSIVE MODE")
            turns = await round_of_turns(http, chats, replicas)
            if fault == 2:
                postgres_server.resume()
                db_back = time.monotonic()
            elif fault == 3:
                locker.rollback()
                locker.close()
            cut += sum(1 for t in turns if t.error)
        await eventually(all_stored(postgres_url, chats), 60, "every promised artifact")
        # A worker whose history loads failed while the database was down pauses its reads
        # for the breaker's cooldown (docs/persistence.md), then one load probes (the turns
        # alongside it still go without history): a round after that, the whole history.
        await asyncio.sleep(max(0.0, db_back + BREAKER_COOLDOWN + 1 - time.monotonic()))
        probe = await round_of_turns(http, chats, replicas)
        last = await round_of_turns(http, chats, replicas)
    cut += sum(1 for t in probe if t.error)
    assert cut == 0, f"{cut} turns failed"
    assert_replayed_in_full(openrouter_sim, last)
    await eventually(all_stored(postgres_url, chats), 30, "the last round stored")
    assert_exactly_once(postgres_url, chats)
    await eventually(lambda: _no_leases(redis_server.url), 10, "the killed replicas' leases")
    assert_clean(redis_server.url)


def _no_leases(url: str) -> bool:
    import redis

    from tests.fleet.chatfleet import LEASES

    return redis.Redis.from_url(url).zcard(LEASES) == 0
