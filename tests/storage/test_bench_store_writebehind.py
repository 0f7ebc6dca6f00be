"""`orsim bench store`'s write-behind section runs end to end on tiny sizes (numbers are
printed, not asserted), so it cannot rot: real worker processes, a real redis-server, a real
SQLite file and a real PostgreSQL server, every promised artifact stored exactly once."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from simulator.cli import app

pytestmark = pytest.mark.timeout(120)


def test_bench_store_writebehind_compares_direct_and_queued_writes_with_k_workers(
    tmp_path,
) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", "store", "--part", "writebehind", "--wb-turns", "3", "--wb-workers", "2",
            "--wb-database", "sqlite", "--wb-database", "postgresql", "--json", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    cases = json.loads(out.read_text())["write_behind"]
    assert [(c["database"], c["mode"]) for c in cases] == [
        ("sqlite", "direct"),
        ("sqlite", "write-behind"),
        ("postgresql", "direct"),
        ("postgresql", "write-behind"),
    ]
    for case in cases:
        assert case["workers"] == 2 and case["artifacts"] == 2 * 3 * 3 and case["failed_turns"] == 0
        assert case["accepted_per_s"] > 0 and case["stored_per_s"] > 0
        assert 0 < case["in_db_p50_s"] <= case["in_db_p99_s"]
    assert {c["in_db_source"] for c in cases if c["database"] == "postgresql"} == {
        "commit timestamps"
    }
    queued = cases[1]
    assert queued["flusher_lag_p50_s"] > 0  # the flushers moved the turns, not a direct write
    assert "sqlite K=2: write-behind accepts" in result.output
    assert "postgresql K=2: write-behind accepts" in result.output


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--part", "everything", "'everything' is not one of"),
        ("--wb-workers", "0", "greater than or equal to 1"),
        ("--wb-database", "mysql", "'mysql' is not one of"),
        ("--wb-turns", "0", "greater than or equal to 1"),
    ],
)
def test_bench_store_rejects_bad_options_before_starting_anything(option, value, message) -> None:
    result = CliRunner().invoke(app, ["bench", "store", option, value])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
