"""`orsim load` end to end: the smoke profile on the fake stack (2 host workers, the exported
pipe, headless locust) writes its reports and passes; a pipe that mixes up answers fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def orsim_load(*args: str, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "simulator.cli", "load", *args, "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )


@pytest.mark.timeout(180)
def test_smoke_profile_passes_and_writes_csv_html_and_plots(tmp_path):
    run = orsim_load("--profile", "smoke", out=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PASSED" in run.stdout
    for name in (
        "locust_stats.csv",
        "locust_stats_history.csv",
        "locust_failures.csv",
        "locust_report.html",
        "ttft.png",
        "lag.png",
        "users.png",
        "busy.png",
        "rss.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["chats"] >= 20 and summary["failed"] == 0
    assert summary["lag"][0] is not None and summary["ttft"][0] is not None
    assert summary["threshold_failures"] == []
    low, high = summary["load_average"]  # the machine's, so a reader can judge the figures
    assert 0 <= low <= high


@pytest.mark.timeout(180)
def test_a_pipe_that_mixes_up_answers_fails_the_run_as_crosstalk(tmp_path):
    broken = ROOT / "tests" / "host" / "pipes" / "crosstalk_pipe.py"
    run = orsim_load(
        "--profile",
        "smoke",
        "--function",
        str(broken),
        "--users",
        "4",
        "--duration",
        "5",
        out=tmp_path,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["failures"].get("crosstalk", 0) >= 1
    assert any("cross-talk" in line for line in summary["threshold_failures"])


def test_an_unknown_profile_is_a_clear_error(tmp_path):
    run = orsim_load("--profile", "nope", out=tmp_path)
    assert run.returncode == 2
    assert "unknown profile 'nope'" in run.stderr and "smoke" in run.stderr
