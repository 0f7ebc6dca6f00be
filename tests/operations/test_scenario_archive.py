"""`orsim logs` opens the archive of a scenario's request (`orsim run`, the exported pipe in the
fake host) and shows its upstream request and events with the key redacted."""

from __future__ import annotations

import asyncio
import json

import yaml
from typer.testing import CliRunner

from simulator.cli import app

# A real OpenRouter key shape (not a live key), quoted back by the upstream mid-stream.
KEY = "sk-or-v1-" + "5d3c" * 16


async def orsim(*args: str):
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_orsim_logs_shows_a_scenario_request_with_the_key_redacted(tmp_path, data_dir):
    logs = tmp_path / "logs"
    scenario = {
        "name": "upstream quotes the key mid-stream",
        "valves": {"SESSION_LOG_ENABLED": True, "SESSION_LOG_DIR": str(logs)},
        "turns": [
            {
                "user": "Tell me about keys",
                "upstream": [
                    {
                        "script": {"text": "Keys are long random strings kept secret"},
                        "fault": f"error_event;after=6;message=Invalid key {KEY};code=401",
                        "physics": {"tps": 100},
                    }
                ],
                "expect": {"error_contains": ["Invalid key [redacted]"], "upstream_calls": 1},
            }
        ],
    }
    path = tmp_path / "keys.yaml"
    path.write_text(yaml.safe_dump({"scenarios": [scenario]}))
    ran = await orsim("run", str(path))
    assert ran.exit_code == 0, ran.output

    listed = await orsim("logs", "list", "--dir", str(logs), "--json")
    (meta,) = [json.loads(line) for line in listed.output.splitlines()]
    assert meta["outcome"] == "error"
    shown = await orsim("logs", "show", meta["id"], "--dir", str(logs))
    assert shown.exit_code == 0, shown.output
    text = shown.output
    assert KEY not in text and "5d3c5d3c" not in text
    assert "== attempt 1: POST" in text and '"model": "openai/gpt-4o-mini"' in text
    assert "Tell me about keys" in text  # the upstream request
    assert "response.output_text.delta" in text  # its events
    assert "Invalid key [redacted]" in text
    lines = (
        await orsim("logs", "show", meta["id"], "--dir", str(logs), "--format", "jsonl")
    ).output
    events = [json.loads(line) for line in lines.splitlines() if '"kind": "event"' in line]
    assert events and any(e["data"].get("type") == "error" for e in events)
    assert KEY not in lines
