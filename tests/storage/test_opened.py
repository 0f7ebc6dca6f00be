"""What a worker keeps in memory of the artifacts it sealed or opened: the next turn replays
them without a database read, and never anything the database would not give this user."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pipe.storage.database import Database
from pipe.storage.opened import ENTRY_OVERHEAD_BYTES, OpenedArtifacts
from pipe.storage.vault import ArtifactVault
from tests.storage.conftest import make_artifact


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_their_time_to_live():
    clock = Clock()
    opened = OpenedArtifacts(1 << 20, ttl=60, clock=clock)
    art = make_artifact()
    opened.put(art, 100)
    clock.now += 59
    assert opened.get("u1", [art.id]) == {art.id: art}
    clock.now += 2
    assert opened.get("u1", [art.id]) == {}
    assert len(opened) == 0 and opened.bytes == 0


def test_least_recently_used_go_first_when_the_bytes_run_out():
    opened = OpenedArtifacts(3 * (1000 + ENTRY_OVERHEAD_BYTES))
    a, b, c, d = (make_artifact() for _ in range(4))
    for art in (a, b, c):
        opened.put(art, 1000)
    opened.get("u1", [a.id])  # a is used again: b is now the oldest
    opened.put(d, 1000)
    assert set(opened.get("u1", [a.id, b.id, c.id, d.id])) == {a.id, c.id, d.id}
    assert opened.bytes <= opened.max_bytes


def test_entries_belong_to_their_user_and_skipped_types_are_not_returned():
    opened = OpenedArtifacts(1 << 20)
    art = make_artifact(user="alice")
    opened.put(art, 10)
    assert opened.get("mallory", [art.id]) == {}
    assert opened.get("alice", [art.id], skip_types=("reasoning",)) == {}
    assert opened.get("alice", [art.id]) == {art.id: art}


def test_size_zero_keeps_nothing_and_an_oversized_item_is_not_kept():
    off = OpenedArtifacts(0)
    art = make_artifact()
    off.put(art, 10)
    assert off.get("u1", [art.id]) == {}
    small = OpenedArtifacts(1000)
    small.put(art, 5000)
    assert len(small) == 0
    small.resize(0)
    assert small.bytes == 0


async def test_next_turn_replays_from_memory_without_reading_the_database(database: Database):
    """Rows deleted behind the vault's back still replay from memory (this is what saves the
    query); with no memory they are missing, as the database says."""
    kept = ArtifactVault(database, "k", [], memory_bytes=1 << 20)
    cold = ArtifactVault(database, "k", [])
    arts = [make_artifact(), make_artifact(item_type="function_call", item=_call())]
    await kept.save_turn(arts, user_id="u1")
    await kept.store.delete([a.id for a in arts])
    ids = [a.id for a in arts]
    assert list((await kept.load("u1", ids)).artifacts) == ids
    assert (await cold.load("u1", ids)).missing == ids
    assert (await kept.load("mallory", ids)).missing == ids  # another user: nothing


async def test_fresh_types_are_read_from_the_database_even_when_held(database: Database):
    """`next_reply` reasoning another worker replayed and deleted is not replayed again."""
    vault = ArtifactVault(database, "k", [], memory_bytes=1 << 20)
    reasoning, call = make_artifact(), make_artifact(item_type="function_call", item=_call())
    await vault.save_turn([reasoning, call], user_id="u1")
    await vault.store.delete([reasoning.id])  # another worker's removal after its replay
    loaded = await vault.load("u1", [reasoning.id, call.id], fresh_types=("reasoning",))
    assert list(loaded.artifacts) == [call.id] and loaded.missing == [reasoning.id]


async def test_rows_read_once_are_served_from_memory_next_time(database: Database):
    writer = ArtifactVault(database, "k", [])
    reader = ArtifactVault(database, "k", [], memory_bytes=1 << 20)
    art = make_artifact()
    await writer.save_turn([art], user_id="u1")
    assert art.id in (await reader.load("u1", [art.id])).artifacts
    await writer.store.delete([art.id])
    assert art.id in (await reader.load("u1", [art.id])).artifacts


async def test_removed_rows_are_forgotten_at_once(database: Database):
    vault = ArtifactVault(database, "k", [], memory_bytes=1 << 20)
    first = make_artifact()
    await vault.save_turn([first], user_id="u1")
    await vault.save_turn([], user_id="u1", remove=[first.id])
    assert (await vault.load("u1", [first.id])).missing == [first.id]


def test_a_process_that_never_closes_its_sqlite_store_still_exits(tmp_path: Path):
    """Each aiosqlite connection is a thread: a host that exits without closing the pipe must
    not be kept alive by one the store left open."""
    script = textwrap.dedent(
        f"""
        import asyncio
        from pipe.storage.database import Database, choose_target
        from pipe.storage.vault import ArtifactVault
        from tests.storage.conftest import make_artifact

        async def main():
            vault = ArtifactVault(Database(choose_target("sqlite:///{tmp_path}/a.db")), "k", [])
            art = make_artifact()
            await vault.save_turn([art], user_id="u1")
            assert art.id in (await vault.load("u1", [art.id])).artifacts
            print("done", flush=True)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "done"


def _call() -> dict[str, str]:
    return {
        "type": "function_call",
        "id": "fc_c1",
        "call_id": "c1",
        "name": "lookup",
        "arguments": "{}",
    }
