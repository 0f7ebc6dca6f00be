"""Write-behind in front of the artifact store (fakeredis; SQLite and PostgreSQL): two
WriteBehindStores on one FakeServer and one database are two workers."""

from __future__ import annotations

import asyncio
import logging

import fakeredis
import pytest
import redis.asyncio

from pipe.redislink import RedisLink
from pipe.storage.codec import ArtifactRow
from pipe.storage.database import Database, choose_target
from pipe.storage.vault import ArtifactVault
from pipe.storage.writebehind import WriteBehindPolicy, WriteBehindStore
from tests.storage.conftest import make_artifact

FAST = WriteBehindPolicy(claim_seconds=0.3, block_seconds=0.05, confirm_seconds=0.1)


def worker(database: Database, server: fakeredis.FakeServer, **policy) -> WriteBehindStore:
    link = RedisLink("redis://fake/0", fakeredis.FakeAsyncRedis(server=server), namespace="t")
    other = Database(choose_target(database.engine.url.render_as_string(False)))
    return WriteBehindStore(other, link, WriteBehindPolicy(**{**FAST.__dict__, **policy}))


def pause(*stores: WriteBehindStore) -> None:
    """This worker's flusher does nothing until the test drives it."""
    for store in stores:
        store.flusher._stopping = True
        if store.flusher.task is not None:
            store.flusher.task.cancel()


async def sealed_rows(vault: ArtifactVault, n: int, user: str = "u1") -> list[ArtifactRow]:
    codec = await vault.codec()
    return [codec.seal(make_artifact(user=user)) for _ in range(n)]


async def stop(*stores: WriteBehindStore) -> None:
    for store in stores:
        await store.aclose(drain_seconds=0)
        await store.db.dispose()


async def test_a_queued_turn_is_readable_at_once_on_another_worker_and_only_by_its_user(
    database: Database, vault: ArtifactVault, fake_redis_server
) -> None:
    a = worker(database, fake_redis_server)
    b = worker(database, fake_redis_server)
    pause(a, b)  # no flushing: only Redis has the rows
    rows = await sealed_rows(vault, 3)
    await a.commit_turn(rows, user_id="u1")
    ids = [r.id for r in rows]
    assert await vault.store.load("u1", ids) == {}  # not in the database yet
    assert list(await b.load("u1", ids)) == ids
    assert await b.load("mallory", ids) == {}
    await stop(a, b)


async def test_the_flusher_moves_queued_turns_to_the_database_once(
    database: Database, vault: ArtifactVault, fake_redis_server
) -> None:
    a = worker(database, fake_redis_server)
    rows = await sealed_rows(vault, 5)
    for i in range(0, 5, 2):
        await a.commit_turn(rows[i : i + 2], user_id="u1")
    for _ in range(100):
        if len(await vault.store.rows()) == 5 and not a.unconfirmed:
            break
        await asyncio.sleep(0.05)
    assert sorted(r.id for r in await vault.store.rows()) == sorted(r.id for r in rows)
    assert await fakeredis.FakeAsyncRedis(server=fake_redis_server).xlen(a.stream) == 0
    assert a.direct_writes == 0 and a.flusher.flushed_turns == 3
    await stop(a)


async def test_entries_a_dead_worker_took_are_reclaimed_by_another(
    database: Database, vault: ArtifactVault, fake_redis_server
) -> None:
    dead = worker(database, fake_redis_server)
    pause(dead)
    rows = await sealed_rows(vault, 4)
    await dead.commit_turn(rows, user_id="u1")
    await dead.flusher._ensure_group()
    taken = await dead.flusher._read(block=False)  # own backlog: nothing
    taken = await dead.flusher._read(block=False)
    assert len(taken) == 1  # taken, then the worker dies before committing
    alive = worker(database, fake_redis_server)
    for _ in range(100):
        if len(await vault.store.rows()) == 4:
            break
        await asyncio.sleep(0.05)
    assert len(await vault.store.rows()) == 4
    pending = await fakeredis.FakeAsyncRedis(server=fake_redis_server).xpending(
        alive.stream, "flushers"
    )
    assert pending["pending"] == 0
    await stop(dead, alive)


async def test_two_flushers_committing_the_same_entries_leave_one_row_each(
    database: Database, vault: ArtifactVault, fake_redis_server
) -> None:
    a, b = worker(database, fake_redis_server), worker(database, fake_redis_server)
    pause(a, b)
    rows = await sealed_rows(vault, 3)
    await a.commit_turn(rows, user_id="u1")
    await a.flusher._ensure_group()
    await a.flusher._read(block=False)
    entries = await a.flusher._read(block=False)
    await asyncio.sleep(0.35)
    stolen = await b.flusher._reclaim()
    assert [e for e, _ in stolen] == [e for e, _ in entries]
    await asyncio.gather(a.flusher._commit(entries), b.flusher._commit(stolen))
    assert sorted(r.id for r in await vault.store.rows()) == sorted(r.id for r in rows)
    await stop(a, b)


async def test_redis_down_at_write_time_writes_the_turn_directly(
    database: Database, vault: ArtifactVault, fake_redis_server, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="openrouter_pipe")
    a = worker(database, fake_redis_server)
    fake_redis_server.connected = False
    for _ in range(3):
        await a.commit_turn(await sealed_rows(vault, 1), user_id="u1")
    assert len(await vault.store.rows()) == 3 and a.direct_writes == 3
    assert sum("is unavailable" in r.getMessage() for r in caplog.records) == 1
    fake_redis_server.connected = True
    await stop(a)


async def test_turns_redis_lost_are_written_by_the_worker_that_queued_them(
    database: Database, vault: ArtifactVault, fake_redis_server, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="openrouter_pipe")
    a = worker(database, fake_redis_server)
    pause(a)
    rows = await sealed_rows(vault, 2)
    await a.commit_turn(rows, user_id="u1")
    await fakeredis.FakeAsyncRedis(server=fake_redis_server).flushall()  # a restart, empty
    await asyncio.sleep(0.15)
    await a.flusher.maintain(final=True)
    assert sorted(r.id for r in await vault.store.rows()) == sorted(r.id for r in rows)
    assert not a.unconfirmed
    assert any("Redis lost 1 queued turns" in r.getMessage() for r in caplog.records)
    await stop(a)


def resume(store: WriteBehindStore) -> None:
    store.flusher._stopping = False
    store.flusher.ensure_running()


async def wait_for_rows(vault: ArtifactVault, n: int, seconds: float = 1.0) -> int:
    for _ in range(int(seconds / 0.02)):
        if len(await vault.store.rows()) >= n:
            break
        await asyncio.sleep(0.02)
    return len(await vault.store.rows())


async def test_a_redis_outage_writes_the_turns_this_worker_queued_directly_at_once(
    database: Database, vault: ArtifactVault, fake_redis_server
) -> None:
    """Not after the periodic check (a minute here): other workers read the database only
    while their link is down, so the rows must be there now."""
    a = worker(database, fake_redis_server, confirm_seconds=60)
    pause(a)
    await a.commit_turn(await sealed_rows(vault, 2), user_id="u1")  # queued, not flushed
    fake_redis_server.connected = False
    resume(a)
    assert await wait_for_rows(vault, 2) == 2
    assert not a.unconfirmed
    fake_redis_server.connected = True
    await stop(a)


async def test_a_queue_redis_lost_is_written_directly_by_its_writers_at_once(
    database: Database, vault: ArtifactVault, redis_server
) -> None:
    """A real redis-server (fakeredis words the missing-group error differently): the queue
    vanishes under a worker (FLUSHALL, as a restart without persistence); at its next read
    the worker writes what it queued there, without waiting for the periodic check."""
    link = RedisLink(redis_server.url, namespace="t")
    other = Database(choose_target(database.engine.url.render_as_string(False)))
    a = WriteBehindStore(other, link, WriteBehindPolicy(**{**FAST.__dict__, "confirm_seconds": 60}))
    client = redis.asyncio.Redis.from_url(redis_server.url)
    for _ in range(100):  # the flusher made its consumer group
        if await client.exists(a.stream):
            break
        await asyncio.sleep(0.01)
    pause(a)
    await a.commit_turn(await sealed_rows(vault, 2), user_id="u1")
    await client.flushall()
    resume(a)  # its next read finds no consumer group
    assert await wait_for_rows(vault, 2) == 2
    assert not a.unconfirmed
    await stop(a)
    await client.aclose()
    await link.aclose()


async def test_repeated_redis_refusals_switch_to_direct_writes(
    database: Database, vault: ArtifactVault, fake_redis_server, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="openrouter_pipe")
    a = worker(database, fake_redis_server, failure_limit=2)
    pause(a)
    client = fakeredis.FakeAsyncRedis(server=fake_redis_server)
    await client.set(a.stream, "not a stream")  # every XADD now fails with WRONGTYPE
    for _ in range(3):
        await a.commit_turn(await sealed_rows(vault, 1), user_id="u1")
    assert len(await vault.store.rows()) == 3
    assert any("writing turns directly" in r.getMessage() for r in caplog.records)
    await stop(a)


async def test_remove_after_replay_also_drops_the_cached_copy(
    database: Database, vault: ArtifactVault, fake_redis_server
) -> None:
    a = worker(database, fake_redis_server)
    pause(a)
    rows = await sealed_rows(vault, 1)
    await a.commit_turn(rows, user_id="u1")
    await a.commit_turn(remove=[rows[0].id], user_id="u1")
    assert await a.load("u1", [rows[0].id]) == {}
    await a.flusher.flush_once()
    await a.flusher.flush_once()
    assert await vault.store.rows() == []
    await stop(a)


async def test_shutdown_drains_the_queue(
    database: Database, vault: ArtifactVault, fake_redis_server
) -> None:
    a = worker(database, fake_redis_server, block_seconds=5)
    pause(a)  # nothing flushed while running
    for _ in range(7):
        await a.commit_turn(await sealed_rows(vault, 1), user_id="u1")
    a.flusher._stopping = False
    await a.aclose(drain_seconds=5)
    assert len(await vault.store.rows()) == 7
    await a.db.dispose()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_a_vault_on_write_behind_round_trips(
    database: Database, vault: ArtifactVault, fake_redis_server
) -> None:
    vault.store = worker(database, fake_redis_server)
    art = make_artifact(user="alice")
    await vault.save_turn([art], user_id="alice")
    loaded = await vault.load("alice", [art.id])
    assert loaded.artifacts[art.id].item == art.item
    await stop(vault.store)  # type: ignore[arg-type]


async def test_loads_failing_on_a_locked_database_do_not_stop_write_behind_saves(
    tmp_path, fake_redis_server
) -> None:
    """The database stops answering reads; history loads fail until the read breaker opens,
    but a turn's save goes to Redis and must still be accepted (its markers promised)."""
    import sqlite3

    from pipe.storage.vault import VaultUnavailable

    path = tmp_path / "locked.db"
    db = Database(choose_target(f"sqlite:///{path}"))
    vault = ArtifactVault(db, "k", [], load_timeout=0.3)
    link = RedisLink("redis://fake/0", fakeredis.FakeAsyncRedis(server=fake_redis_server))
    store = vault.store = WriteBehindStore(db, link, FAST)
    pause(store)
    await vault.save_turn([make_artifact()], user_id="u1")  # tables and key ready
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # reads now wait for the lock
    try:
        for _ in range(4):
            with pytest.raises(VaultUnavailable):
                await vault.load("u1", ["x" * 22])  # not in Redis: the database is asked
        saved = make_artifact()
        await vault.save_turn([saved], user_id="u1")  # queued in Redis, not refused
        assert saved.id in await store.load("u1", [saved.id])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    await stop(store)
