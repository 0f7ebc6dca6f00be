"""`orsim smoke`: every starter cassette through the openai SDK, a table, and a failing exit
code when a cassette does not replay as it should."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import yaml
from rich.console import Console
from typer.testing import CliRunner

from simulator.cli import app
from simulator.smoke import main, run_smoke

ROOT = Path(__file__).resolve().parents[2]


def test_every_starter_cassette_replays_ok() -> None:
    rows = run_smoke(ROOT / "cassettes")
    assert len(rows) == len(list((ROOT / "cassettes").glob("*.yaml")))
    assert all(row.ok for row in rows), [r for r in rows if not r.ok]
    by_name = {row.cassette: row for row in rows}
    assert by_name["error-429"].outcome == "RateLimitError 429"
    assert by_name["stream-error-nested"].outcome.startswith("APIError")
    assert by_name["text-plain"].events == 21


def test_cli_prints_a_table_and_exits_zero() -> None:
    result = CliRunner().invoke(app, ["smoke", str(ROOT / "cassettes")])
    assert result.exit_code == 0, result.output
    assert "text-plain" in result.output and "18/18 ok" in result.output


def test_a_wrong_replay_fails_with_nonzero_exit(tmp_path: Path) -> None:
    shutil.copy(ROOT / "cassettes" / "text-plain.yaml", tmp_path / "text-plain.yaml")
    # A cassette whose stream is cut before its terminal event: its expectation says
    # "truncated", which no SDK outcome satisfies, so the smoke run must flag it.
    data = yaml.safe_load((ROOT / "cassettes" / "stream-failed.yaml").read_text(encoding="utf-8"))
    response = data["interactions"][0]["response"]
    response["chunks"] = response["chunks"][:-3]
    response.pop("events")
    (tmp_path / "truncated.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    out = StringIO()
    assert main(tmp_path, Console(file=out, width=160)) == 1
    text = out.getvalue()
    assert "FAIL" in text and "1 FAILED" in text and "text-plain" in text


def test_a_bad_cassette_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["smoke", str(tmp_path)])
    assert result.exit_code == 2
    assert "no *.yaml cassettes in this directory" in result.output
