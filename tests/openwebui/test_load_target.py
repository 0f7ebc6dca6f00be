"""`orsim load --target`: the locustfiles against the real Open WebUI 0.12.4, hosting the
exported pipe that streams from the fake OpenRouter. Every answer must come back complete and
its own through Open WebUI's own `/api/chat/completions` (auth, middleware, its streaming)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_locustfiles_drive_the_real_open_webui_with_zero_failures(
    owui, owui_function, exported, sim, tmp_path
):
    function_id = owui_function(
        exported,
        valves={"BASE_URL": sim.base_url, "API_KEY": sim.api_key},
    )
    model = f"{function_id}.openai.gpt-4o-mini"
    assert model in [m["id"] for m in owui.models()]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ORSIM_LOAD_TOKEN": owui.token}
    args = ["--profile", "smoke", "--target", owui.base_url, "--model", model]
    args += ["--users", "8", "--duration", "10", "--out", str(tmp_path)]
    run = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "load", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert run.returncode == 0, run.stdout + run.stderr + owui.log_tail()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["chats"] >= 8 and summary["failed"] == 0, summary
    assert summary["failures"] == {}  # no cross-talk, cut, garbled or HTTP error
    assert summary["lag"][0] is not None and summary["ttft"][0] is not None
