"""From incident to regression test: the archive of a chat whose upstream failed mid-stream
becomes a cassette and a scenario (`orsim logs to-scenario`) that replays it offline, through
the fake OpenRouter and the fake host, with what the user saw as its expectations."""

from __future__ import annotations

import asyncio

import yaml
from typer.testing import CliRunner

from pipe.runtime import get_runtime
from simulator.cassettes.format import load_cassette
from simulator.cli import app
from simulator.operations.archives import backend
from tests.pipe.helpers import chat_body, make_pipe, run_pipe

STORY = "Once upon a time a fox found a quiet river and sat down to think about the moon"


async def orsim(*args: str):
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_mid_stream_failure_becomes_a_replayable_scenario(
    openrouter_sim,
    data_dir,
    tmp_path,
):
    logs = tmp_path / "logs"
    openrouter_sim.enqueue({"script": {"text": STORY}, "fault": "disconnect;after=9", "tps": 100})
    pipe = make_pipe(
        openrouter_sim,
        SESSION_LOG_ENABLED=True,
        SESSION_LOG_DIR=str(logs),
        MAX_RETRIES=1,
        STREAM_COALESCE_MS=0,
    )
    out = await run_pipe(pipe, chat_body("Tell me a story"))
    await get_runtime().drain()
    assert "The answer was cut off" in out.text and out.text.startswith("Once upon")
    (meta,) = await backend(str(logs), None).list()
    assert meta.outcome == "error"

    made = await orsim(
        "logs", "to-scenario", meta.id, "--dir", str(logs), "--out", str(tmp_path / "incident")
    )
    assert made.exit_code == 0, made.output
    scenario_path = next((tmp_path / "incident").glob("*.scenario.yaml"))
    cassette_path = next((tmp_path / "incident" / "cassettes").glob("*.yaml"))
    cassette = load_cassette(cassette_path)
    assert cassette.interactions[0].request.body["input"][0]["content"][0]["text"] == (
        "Tell me a story"
    )
    (scenario,) = yaml.safe_load(scenario_path.read_text())["scenarios"]
    (turn,) = scenario["turns"]
    assert turn["user"] == "Tell me a story" and scenario["valves"]["MAX_RETRIES"] == 1
    assert turn["upstream"][0]["fault"].startswith("disconnect;after=")
    assert turn["expect"]["error_contains"] == ["The answer was cut off"]
    assert turn["expect"]["content_contains"][0].startswith("Once upon a time")

    replay = await orsim("run", str(scenario_path))
    assert replay.exit_code == 0, replay.output
    assert "1/1 scenarios passed" in replay.output

    # Edited to what should have happened, it is a failing regression test.
    turn["expect"] = {"content": STORY}
    scenario_path.write_text(yaml.safe_dump({"scenarios": [scenario]}, allow_unicode=True))
    failing = await orsim("run", str(scenario_path))
    assert failing.exit_code != 0 and "FAIL" in failing.output
