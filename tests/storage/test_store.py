"""The artifact store on real databases (each test runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from sqlalchemy import inspect, update

from pipe.storage.codec import CODEC_AESGCM, CODEC_ZSTD, ArtifactRow
from pipe.storage.database import Database, SchemaDriftError, choose_target
from pipe.storage.schema import SCHEMA_VERSION, artifacts_table, meta_table
from pipe.storage.vault import ArtifactVault, VaultUnavailable
from tests.storage.conftest import make_artifact


async def test_tables_are_created_once_and_again_without_error(database: Database):
    await database.ready()
    second = Database(choose_target(str(database.engine.url.render_as_string(False))))
    await second.ready()  # a second process finding the tables already there
    async with database.engine.connect() as conn:
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
        indexes = await conn.run_sync(
            lambda c: {i["name"] for i in inspect(c).get_indexes(artifacts_table.name)}
        )
    assert {artifacts_table.name, meta_table.name} <= set(names)
    assert "ix_openrouter_pipe_artifacts_last_used" in indexes
    assert await database.meta_value("schema_version", "0") == str(SCHEMA_VERSION)
    await second.dispose()


async def test_round_trip_is_scoped_by_user(vault: ArtifactVault):
    mine = make_artifact(user="alice", offset=12)
    await vault.save_turn([mine], user_id="alice")
    loaded = await vault.load("alice", [mine.id])
    assert loaded.artifacts[mine.id].item == mine.item
    assert loaded.artifacts[mine.id].offset == 12
    stolen = await vault.load("mallory", [mine.id])
    assert stolen.artifacts == {} and stolen.missing == [mine.id]


async def test_all_ids_load_in_one_query_in_request_order(vault: ArtifactVault):
    arts = [make_artifact() for _ in range(30)]
    await vault.save_turn(arts, user_id="u1")
    ids = [a.id for a in reversed(arts)]
    loaded = await vault.load("u1", ids)
    assert list(loaded.artifacts) == ids


async def test_writing_the_same_rows_twice_changes_nothing(vault: ArtifactVault):
    art = make_artifact()
    codec = await vault.codec()
    row = codec.seal(art)
    await vault.store.write([row])
    await vault.store.write([row, row])
    assert await vault.store.counts() == {"reasoning": 1}
    assert (await vault.store.rows())[0].payload == row.payload


async def test_ciphertext_holds_no_plaintext_and_compresses_only_when_smaller(
    vault: ArtifactVault,
):
    small = make_artifact({"type": "reasoning", "id": "rs_1", "encrypted_content": "secret-chain"})
    big = make_artifact(
        {"type": "function_call_output", "call_id": "c", "output": "SECRET-WORD " * 500}
    )
    await vault.save_turn([small, big], user_id="u1")
    rows = {r.id: r for r in await vault.store.rows()}
    assert rows[small.id].codec == CODEC_AESGCM  # too small to gain from zstd
    assert rows[big.id].codec == CODEC_AESGCM | CODEC_ZSTD
    assert len(rows[big.id].payload) < 600
    for row in rows.values():
        assert b"SECRET-WORD" not in row.payload and b"secret-chain" not in row.payload
        assert b"thinking" not in row.payload


async def test_corrupt_ciphertext_is_unreadable_and_kept(vault: ArtifactVault):
    art = make_artifact()
    await vault.save_turn([art], user_id="u1")
    row = (await vault.store.rows())[0]
    flipped = bytes([row.payload[0], row.payload[1] ^ 0xFF]) + row.payload[2:]
    async with vault.db.engine.begin() as conn:
        await conn.execute(
            update(artifacts_table).where(artifacts_table.c.id == art.id).values(payload=flipped)
        )
    loaded = await vault.load("u1", [art.id])
    assert loaded.artifacts == {} and loaded.unreadable == {art.id: "integrity"}
    assert await vault.store.counts() == {"reasoning": 1}  # nothing deleted


async def test_row_moved_to_another_user_or_chat_does_not_decrypt(vault: ArtifactVault):
    art = make_artifact(user="alice", chat="c-alice")
    await vault.save_turn([art], user_id="alice")
    async with vault.db.engine.begin() as conn:
        await conn.execute(
            update(artifacts_table).where(artifacts_table.c.id == art.id).values(user_id="mallory")
        )
    assert (await vault.load("mallory", [art.id])).unreadable == {art.id: "integrity"}
    async with vault.db.engine.begin() as conn:
        await conn.execute(
            update(artifacts_table)
            .where(artifacts_table.c.id == art.id)
            .values(user_id="alice", chat_id="c-other")
        )
    assert (await vault.load("alice", [art.id])).unreadable == {art.id: "integrity"}


async def test_wrong_key_reads_nothing_and_deletes_nothing(database: Database):
    writer = ArtifactVault(database, "key-one", [])
    art = make_artifact()
    await writer.save_turn([art], user_id="u1")
    stranger = ArtifactVault(database, "key-two", [])
    loaded = await stranger.load("u1", [art.id])
    assert loaded.unreadable == {art.id: "key"} and loaded.artifacts == {}
    assert await stranger.store.counts() == {"reasoning": 1}


async def test_rotation_keeps_old_rows_readable_and_reencrypt_moves_them(database: Database):
    old = ArtifactVault(database, "key-one", [])
    arts = [make_artifact() for _ in range(5)]
    await old.save_turn(arts, user_id="u1")
    rotated = ArtifactVault(database, "key-two", ["key-one"])
    assert set((await rotated.load("u1", [a.id for a in arts])).artifacts) == {a.id for a in arts}
    assert await rotated.reencrypt(batch=2) == 5
    new_key = (await rotated.codec()).keys.current_id
    assert {r.key_id for r in await rotated.store.rows()} == {new_key}
    only_new = ArtifactVault(database, "key-two", [])
    loaded = await only_new.load("u1", [a.id for a in arts])
    assert [loaded.artifacts[a.id].item for a in arts] == [a.item for a in arts]
    assert await rotated.reencrypt() == 0


async def test_reencrypt_leaves_rows_it_cannot_read(database: Database):
    foreign = ArtifactVault(database, "someone-elses-key", [])
    await foreign.save_turn([make_artifact()], user_id="u1")
    mine = ArtifactVault(database, "my-key", [])
    await mine.save_turn([make_artifact()], user_id="u1")
    assert await mine.reencrypt() == 0
    assert len(await mine.store.rows()) == 2


async def test_two_workers_share_one_salt(store_url: str):
    a = Database(choose_target(store_url))
    b = Database(choose_target(store_url))
    va, vb = ArtifactVault(a, "shared", []), ArtifactVault(b, "shared", [])
    await asyncio.gather(va.codec(), vb.codec())
    art = make_artifact()
    await va.save_turn([art], user_id="u1")
    assert art.id in (await vb.load("u1", [art.id])).artifacts
    await a.dispose()
    await b.dispose()


async def test_a_turn_commits_all_or_nothing(vault: ArtifactVault):
    kept = make_artifact()
    await vault.save_turn([kept], user_id="u1")
    codec = await vault.codec()
    good = codec.seal(make_artifact())
    broken = dataclasses.replace(codec.seal(make_artifact()), item_type=None)  # NOT NULL
    with pytest.raises(Exception):  # noqa: B017 - the driver's integrity error
        await vault.store.commit_turn([good, broken], remove=[kept.id], user_id="u1")
    assert [r.id for r in await vault.store.rows()] == [kept.id]


async def test_touch_and_retention_by_last_use(vault: ArtifactVault):
    old, used = make_artifact(), make_artifact()
    long_ago = int(time.time()) - 40 * 86400
    old.created_at = used.created_at = long_ago
    await vault.save_turn([old, used], user_id="u1")
    await vault.save_turn([], user_id="u1", touch=[used.id])
    assert await vault.cleanup(retention_days=30) == 1
    assert [r.id for r in await vault.store.rows()] == [used.id]


async def test_next_reply_rows_are_removed_with_the_turn(vault: ArtifactVault):
    first = make_artifact()
    await vault.save_turn([first], user_id="u1")
    second = make_artifact()
    await vault.save_turn([second], user_id="u1", remove=[first.id])
    await vault.save_turn([], user_id="mallory", remove=[second.id])  # not theirs
    assert [r.id for r in await vault.store.rows()] == [second.id]


async def test_newer_schema_version_refuses_to_write(database: Database):
    await database.ready()
    async with database.engine.begin() as conn:
        await conn.execute(update(meta_table).values(value=str(SCHEMA_VERSION + 1)))
    fresh = Database(choose_target(database.engine.url.render_as_string(False)))
    with pytest.raises(SchemaDriftError):
        await fresh.ready()
    vault = ArtifactVault(fresh, "k", [])
    with pytest.raises(VaultUnavailable, match="newer pipe"):
        await vault.save_turn([make_artifact()], user_id="u1")
    await fresh.dispose()


async def test_rows_for_the_cache_layer_round_trip_exactly(vault: ArtifactVault):
    art = make_artifact()
    codec = await vault.codec()
    row = codec.seal(art)
    await vault.store.write([row])
    got = (await vault.store.load("u1", [art.id]))[art.id]
    assert isinstance(got, ArtifactRow) and got == row


async def test_locked_sqlite_gives_up_in_time_and_recovers(tmp_path):
    import sqlite3

    path = tmp_path / "locked.db"
    db = Database(choose_target(f"sqlite:///{path}"))
    vault = ArtifactVault(db, "k", [], save_timeout=0.5)
    await vault.save_turn([make_artifact()], user_id="u1")  # tables exist
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        with pytest.raises(VaultUnavailable, match="did not answer in time"):
            await vault.save_turn([make_artifact()], user_id="u1")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # The lock is gone: saved again (the abandoned attempt may still be finishing: wait for it).
    vault.save_timeout = 10.0
    await vault.save_turn([make_artifact()], user_id="u1")
    assert (await vault.store.counts())["reasoning"] >= 2
    await db.dispose()


async def test_breaker_stops_calling_a_dead_database(tmp_path):
    from simulator.services.postgres import free_port

    dead = Database(choose_target(f"postgresql://orsim@127.0.0.1:{free_port()}/none"))
    vault = ArtifactVault(dead, "k", [], load_timeout=5)
    for _ in range(3):
        with pytest.raises(VaultUnavailable, match=r"unavailable|in time"):
            await vault.load("u1", ["x" * 22])
    with pytest.raises(VaultUnavailable, match="paused"):
        await vault.load("u1", ["x" * 22])  # refused at once, the database is not called
    await dead.dispose()
