"""`orsim store`: an operator rotates the key and moves the rows to it (real SQLite file)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from pipe.storage.database import Database, choose_target
from pipe.storage.vault import ArtifactVault
from simulator.cli import app
from tests.storage.conftest import make_artifact


async def _write(url: str, secret: str, n: int) -> list[str]:
    vault = ArtifactVault(Database(choose_target(url)), secret, [])
    arts = [make_artifact() for _ in range(n)]
    await vault.save_turn(arts, user_id="u1")
    await vault.db.dispose()
    return [a.id for a in arts]


async def _readable(url: str, secret: str, ids: list[str]) -> int:
    vault = ArtifactVault(Database(choose_target(url)), secret, [])
    try:
        return len((await vault.load("u1", ids)).artifacts)
    finally:
        await vault.db.dispose()


def test_reencrypt_moves_rows_to_the_new_key_and_reports_what_it_left(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    ids = asyncio.run(_write(url, "key-one", 4))
    foreign = asyncio.run(_write(url, "someone-else", 1))
    runner = CliRunner()
    out = runner.invoke(
        app, ["store", "reencrypt", "--db", url, "--key", "key-two", "--previous-keys", "key-one"]
    )
    assert out.exit_code == 0, out.output
    assert "4 rows moved" in out.output and "1 rows no listed key opens" in out.output
    assert asyncio.run(_readable(url, "key-two", ids)) == 4
    assert asyncio.run(_readable(url, "key-one", ids)) == 0
    assert asyncio.run(_readable(url, "someone-else", foreign)) == 1  # left as it was
    stats = runner.invoke(app, ["store", "stats", "--db", url, "--key", "key-two"])
    assert '"rows": 5' in stats.output and "key-two" not in stats.output
