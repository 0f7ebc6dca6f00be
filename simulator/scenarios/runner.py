"""Run scenarios on the real stack: the fake host loads the pipe, the fake OpenRouter answers.

Nothing of the pipe is replaced: the runner reaches it only through the Open WebUI function
contract (the fake host) and the HTTP upstream (the simulator's response queue and journal).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.cassettes.format import load_cassette
from simulator.host.call import new_id
from simulator.host.chats import HostChat
from simulator.host.transcript import Transcript
from simulator.internet import Internet
from simulator.openrouter.server import SimServer
from simulator.scenarios.checks import check_requests, check_turn
from simulator.scenarios.model import Scenario, Turn, UpstreamStep
from simulator.scenarios.play import FUNCTION_ID, ScenarioHost

__all__ = ["FUNCTION_ID", "ScenarioResult", "ScenarioRunner", "TurnOutcome"]


@dataclass
class TurnOutcome:
    transcripts: list[Transcript]
    requests: list[dict[str, Any]]
    tool_runs: list[Any]
    stored: dict[str, int] = field(default_factory=dict)  # artifact rows per item type
    payloads: list[bytes] = field(default_factory=list)  # every stored payload, as stored


def _data_dir() -> str:
    """Pipes keep their key file (and default database) in DATA_DIR: a temp one for the run
    unless the caller chose one."""
    if not os.environ.get("DATA_DIR"):
        path = tempfile.mkdtemp(prefix="orsim-run-")
        atexit.register(shutil.rmtree, path, True)
        os.environ["DATA_DIR"] = path
    return os.environ["DATA_DIR"]


def read_store(path: Path) -> tuple[dict[str, int], list[bytes]]:
    """Rows per item type and the raw payloads of a scenario's artifact database."""
    if not path.exists():
        return {}, []
    with sqlite3.connect(path) as conn:
        try:
            rows = conn.execute(
                "SELECT item_type, payload FROM openrouter_pipe_artifacts"
            ).fetchall()
        except sqlite3.OperationalError:  # no table yet: nothing stored
            return {}, []
    counts: dict[str, int] = {}
    for kind, _ in rows:
        counts[kind] = counts.get(kind, 0) + 1
    return counts, [bytes(p) for _, p in rows]


@dataclass
class ScenarioResult:
    scenario: Scenario
    passed: bool
    failures: list[str] = field(default_factory=list)
    upstream_calls: int = 0
    tool_calls: int = 0
    seconds: float = 0.0
    workers: list[int] = field(default_factory=list)  # the worker that served each turn

    @property
    def name(self) -> str:
        return self.scenario.name


def queue_spec(step: UpstreamStep, scenario: Scenario) -> dict[str, Any]:
    """A scenario step as a simulator queue spec (cassettes become their recorded events)."""
    spec: dict[str, Any] = {}
    if step.script is not None:
        spec["script"] = {"model": scenario.model, **step.script}
    elif step.events is not None:
        spec["events"] = step.events
    elif step.cassette is not None:
        spec.update(_cassette_spec(step.cassette, scenario))
    else:
        spec["status"] = step.status
        spec["body"] = step.body
    if step.headers:
        spec["headers"] = step.headers
    if step.fault is not None:
        spec["fault"] = step.fault
    for key, value in (step.physics or {}).items():
        spec[key] = value
    if step.down_models:
        spec["down_models"] = step.down_models
    if step.context_length is not None:
        spec["context_length"] = step.context_length
    return spec


def _cassette_spec(ref: str, scenario: Scenario) -> dict[str, Any]:
    """`path[#index]`, relative to the scenario file, then to the project's cassettes/."""
    path_text, _, index = ref.partition("#")
    candidates = [Path(scenario.source).parent / path_text, Path(path_text)]
    path = next((p for p in candidates if p.exists()), candidates[-1])
    response = load_cassette(path).interactions[int(index or 0)].response
    if not response.is_stream:
        return {"status": response.status, "body": response.body}
    events: list[dict[str, Any]] = []
    for event in response.events or []:
        for line in event.data.decode("utf-8").splitlines():
            payload = line[5:].strip() if line.startswith("data:") else ""
            if payload and payload != "[DONE]":
                events.append(json.loads(payload))
    return {"events": events}


_INTERNET: Internet | None = None


def with_internet(scenario: Scenario) -> Scenario:
    """`{internet}` in a scenario becomes the loopback internet's origin (started on first use)."""
    global _INTERNET
    text = scenario.model_dump_json()
    if "{internet" not in text:
        return scenario
    if _INTERNET is None:
        _INTERNET = Internet().start()
    text = text.replace("{internet}", _INTERNET.url("")).replace(
        "{internet_port}", str(_INTERNET.port)
    )
    return Scenario.model_validate_json(text)


class LocalPlayers:
    """Every turn played in this process, on one fake host per scenario (the default)."""

    workers = 1

    def __init__(self, function_path: Path) -> None:
        self.function_path = function_path
        self._host: ScenarioHost | None = None

    async def open(self, scenario: Scenario, valves: dict[str, Any]) -> None:
        self._host = ScenarioHost(self.function_path, scenario, valves)
        await self._host.model_id(scenario.model)

    async def play(
        self, number: int, turn: Turn, history: list[dict[str, Any]], chat_id: str
    ) -> tuple[list[Transcript], list[Any], int]:
        assert self._host is not None
        transcripts = await self._host.play(turn, history, chat_id)
        return transcripts, [r for t in transcripts for r in t.tool_runs], 0

    async def close(self) -> None:
        """Close the pipe's runtimes while this scenario's event loop still runs: work it
        started (a retention cleanup, the write-behind queue) ends here, not cancelled
        mid-query by the loop's shutdown."""
        host, self._host = self._host, None
        if host is not None:
            await host.aclose()


class ScenarioRunner:
    """Runs scenarios one after another against one simulator and one function file.

    `players` decides where turns run: in this process (`LocalPlayers`), or on K worker
    processes sharing Redis and a database (simulator/scenarios/fleet.py), turn N of a chat on
    worker N mod K; `stores` makes each scenario's empty artifact store (SQLite by default).
    """

    def __init__(
        self,
        function_path: Path,
        sim: SimServer,
        players: Any = None,
        stores: Any = None,
    ) -> None:
        self.function_path = function_path
        self.sim = sim
        self.data_dir = Path(_data_dir())
        self.players = players or LocalPlayers(function_path)
        self.stores = stores or SqliteStores(self.data_dir)

    async def run(self, scenario: Scenario) -> ScenarioResult:
        started = time.perf_counter()
        self.sim.reset()
        failures: list[str] = []
        upstream_calls = tool_calls = 0
        served: list[int] = []
        store = await self.stores.new()  # each scenario starts with an empty store of its own
        try:
            scenario = with_internet(scenario)
            valves = {
                "BASE_URL": self.sim.base_url,
                "API_KEY": self.sim.api_key,
                "ARTIFACT_DATABASE_URL": store.url,
            }
            await self.players.open(scenario, valves)
            chat = HostChat()
            if scenario.system:
                chat.add_system(scenario.system)
            for number, turn in enumerate(scenario.turns, start=1):
                if turn.clone:
                    chat = chat.clone()
                if turn.branch_at is not None:
                    chat = chat.branch(turn.branch_at)
                if turn.edit_last_assistant is not None:
                    chat.edit_last_assistant(turn.edit_last_assistant)
                outcome, worker = await self._turn(number, scenario, turn, chat, store)
                served.append(worker)
                upstream_calls += len(outcome.requests)
                tool_calls += len(outcome.tool_runs)
                prefix = f"turn {number}: "
                failures += [prefix + f for f in check_requests(turn, outcome.requests)]
                failures += [prefix + f for f in check_turn(turn, outcome, scenario)]
                if failures:
                    break
        except Exception as exc:  # a crash is a failure of the scenario, reported plainly
            failures.append(f"crashed: {type(exc).__name__}: {exc}")
        finally:
            try:
                await self.players.close()
                await self.stores.release(store)
            except Exception as exc:
                failures.append(f"cleanup failed: {type(exc).__name__}: {exc}")
        return ScenarioResult(
            scenario,
            not failures,
            failures,
            upstream_calls,
            tool_calls,
            time.perf_counter() - started,
            served,
        )

    async def _turn(
        self, number: int, scenario: Scenario, turn: Turn, chat: HostChat, store: Any
    ) -> tuple[TurnOutcome, int]:
        before = len(self.sim.requests_to("/responses"))
        for _ in range(turn.concurrent):
            self.sim.enqueue(*(queue_spec(s, scenario) for s in turn.upstream))
        if turn.user is not None:
            chat.add_user(turn.user)
        transcripts, tool_runs, worker = await self.players.play(
            number, turn, chat.history(), chat.chat_id
        )
        requests = self.sim.requests_to("/responses")[before:]
        if turn.task is None and transcripts[0].message.content:
            chat.record(transcripts[0])
        stored, payloads = ({}, [])
        if turn.expect.stored is not None or turn.expect.stored_lacks:
            stored, payloads = await self.stores.read(store)
        return TurnOutcome(transcripts, requests, tool_runs, stored, payloads), worker


@dataclass
class SqliteStore:
    url: str
    path: Path


class SqliteStores:
    """A fresh SQLite file per scenario in the run's data directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def new(self) -> SqliteStore:
        path = self.directory / f"scenario-{new_id()[:12]}.db"
        return SqliteStore(f"sqlite:///{path}", path)

    async def read(self, store: SqliteStore) -> tuple[dict[str, int], list[bytes]]:
        return read_store(store.path)

    async def release(self, store: SqliteStore) -> None:
        return None
