"""`orsim run --workers 2` with a real redis-server and a real PostgreSQL: scenario turns
alternate between two worker processes, and a chat's history replays on the other worker.

The first test runs the persistence suite and a tool loop that way. The second holds every
database write back (the artifact table locked) while a three-turn tool chat runs on
alternating workers: each later turn can only find its history in the shared Redis
write-behind cache; once the lock goes, every artifact reaches the database exactly once.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from pipe.storage.schema import ARTIFACT_TABLE
from simulator.openrouter.server import SimServer
from simulator.scenarios.fleet import (
    FleetPlayers,
    FleetServices,
    fleet_stores,
    queued_turns,
    wait_for_drain,
)
from simulator.scenarios.model import Scenario, load_scenario_file
from simulator.scenarios.runner import ScenarioResult, ScenarioRunner
from simulator.scenarios.suite import FleetOptions, exported_function_file, run_scenarios
from simulator.services.postgres import free_port
from tests.fleet.chatfleet import create_tables, stored_ids

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]


def alternating(turns: int) -> list[int]:
    return [n % 2 for n in range(turns)]


async def test_the_persistence_suite_and_a_tool_loop_pass_with_turns_alternating_over_two_workers(
    redis_server, postgres_server
) -> None:
    scenarios = load_scenario_file(ROOT / "scenarios/persistence.yaml")
    scenarios += [
        s
        for s in load_scenario_file(ROOT / "scenarios/tools.yaml")
        if s.name == "three chained rounds"
    ]
    fleet = FleetOptions(2, redis_server.url, postgres_server.url())
    results = await run_scenarios(scenarios, fleet=fleet)
    failed = {r.name: r.failures for r in results if not r.passed}
    assert not failed
    multi_turn = [r for r in results if len(r.scenario.turns) > 1]
    assert len(multi_turn) >= 5
    for r in results:  # every turn on the worker it was sent to: 1st w0, 2nd w1, 3rd w0
        assert r.workers == alternating(len(r.scenario.turns)), (r.name, r.workers)
    assert queued_turns(redis_server.url) == 0


REPLAY_ONLY_FROM_REDIS = """
name: a tool chat whose database writes are held back
model: openai/o4-mini
tools:
  get_weather:
    parameters: {type: object, properties: {city: {type: string}}, required: [city]}
    behaviour: {returns: "sunny, light wind"}
turns:
  - user: Weather in Paris?
    upstream:
      - script:
          reasoning: "Call the tool."
          encrypted_reasoning: true
          function_calls: [{name: get_weather, arguments: {city: Paris}, call_id: call_p}]
      - script: {text: "Sunny in Paris."}
    expect: {content: "Sunny in Paris.", markers: 3}
  - user: And Oslo?
    upstream:
      - script:
          reasoning: "Again."
          encrypted_reasoning: true
          text: "Rainy in Oslo."
        expect_request:
          input_has:
            - {type: reasoning, encrypted_content: "~orsim-enc-v1."}
            - {type: function_call_output, call_id: call_p, output: "~light wind"}
    expect: {content: "Rainy in Oslo.", markers: 1}
  - user: Thanks.
    upstream:
      - script: {text: "Welcome."}
        expect_request:
          input_types: [message:user, reasoning, function_call, function_call_output,
                        message:assistant, message:user, reasoning, message:assistant,
                        message:user]
    expect: {content: "Welcome."}
"""


def test_history_replays_on_the_other_worker_from_redis_while_database_writes_wait(
    redis_server, postgres_server, postgres_url, tmp_path
) -> None:
    import yaml

    spec = yaml.safe_load(REPLAY_ONLY_FROM_REDIS)
    spec["valves"] = {"ARTIFACT_DATABASE_URL": postgres_url, "WRITE_BEHIND_CLAIM_SECONDS": 1}
    scenario = Scenario.model_validate(spec)
    create_tables(postgres_url)
    locker = psycopg.connect(postgres_url)
    # EXCLUSIVE: reads go on, every insert waits until the lock goes.
    locker.execute(f"LOCK TABLE {ARTIFACT_TABLE} IN EXCLUSIVE MODE")
    path = exported_function_file(tmp_path)

    class ReleasingPlayers(FleetPlayers):
        async def close(self) -> None:  # the chat is over: let the flushers write
            assert stored_ids(postgres_url) == []  # nothing reached the database before
            locker.rollback()
            await super().close()

    async def run(players: FleetPlayers, services: FleetServices) -> ScenarioResult:
        async with SimServer() as sim:
            runner = ScenarioRunner(path, sim, players, fleet_stores(services, tmp_path))
            return await runner.run(scenario)

    with FleetServices(redis_server.url, postgres_server.url()) as services:
        players = ReleasingPlayers(path, 2, services).start()
        try:
            result = asyncio.run(run(players, services))
        finally:
            players.stop()
            locker.close()
    assert result.passed, result.failures
    assert result.workers == [0, 1, 0]
    assert wait_for_drain(redis_server.url)
    stored = stored_ids(postgres_url)
    assert len(stored) == len(set(stored)) == 4  # 3 from turn 1, a reasoning item from turn 2


def orsim_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator.cli", "run", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--redis", "localhost:6379"], "--redis must be `auto` or a redis:// URL"),
        (["--database-url", "mysql://x/y"], "--database-url must be `auto` or a postgresql://"),
    ],
)
def test_orsim_run_refuses_bad_fleet_options_with_a_clear_error(args, message) -> None:
    res = orsim_run(str(ROOT / "scenarios/persistence.yaml"), *args)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr


def test_a_suite_on_two_workers_whose_redis_refuses_connections_passes_on_direct_writes() -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    res = orsim_run(str(ROOT / "scenarios/persistence.yaml"), "--workers", "2", "--redis", closed)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "7/7 scenarios passed" in res.stdout
    assert "w0 w1 w0" in res.stdout  # the workers column: turns still alternate
