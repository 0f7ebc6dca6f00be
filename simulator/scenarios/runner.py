"""Run scenarios on the real stack: the fake host loads the pipe, the fake OpenRouter answers.

Nothing of the pipe is replaced: the runner reaches it only through the Open WebUI function
contract (the fake host) and the HTTP upstream (the simulator's response queue and journal).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
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
from simulator.host import owui_modules
from simulator.host.call import HostUser, new_id
from simulator.host.chats import HostChat
from simulator.host.host import FakeHost, ModelNotFoundError
from simulator.host.transcript import Transcript
from simulator.internet import RED_PNG, TINY_PDF, Internet
from simulator.openrouter.server import SimServer
from simulator.scenarios.checks import check_requests, check_turn
from simulator.scenarios.model import Scenario, ToolDef, Turn, UpstreamStep, UserSpec

FUNCTION_ID = "openrouter"


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

    @property
    def name(self) -> str:
        return self.scenario.name


class ScriptedTool:
    """A tool of the scenario: plays its scripted behaviour and records every invocation."""

    def __init__(self, name: str, spec: ToolDef) -> None:
        self.name = name
        self.spec = spec
        self.calls: list[dict[str, Any]] = []

    def entry(self) -> dict[str, Any]:
        spec = {
            "name": self.name,
            "description": self.spec.description,
            "parameters": self.spec.parameters,
        }
        return {"callable": self._sync if self.spec.sync else self._async, "spec": spec}

    def _behave(self, kwargs: dict[str, Any]) -> Any:
        behaviour = self.spec.behaviour_for(len(self.calls))
        self.calls.append(dict(kwargs))
        return behaviour

    async def _async(self, **kwargs: Any) -> Any:
        behaviour = self._behave(kwargs)
        if behaviour.sleep:
            await asyncio.sleep(behaviour.sleep)
        if behaviour.raises:
            raise RuntimeError(behaviour.raises)
        return behaviour.returns

    def _sync(self, **kwargs: Any) -> Any:
        behaviour = self._behave(kwargs)
        if behaviour.sleep:
            time.sleep(behaviour.sleep)
        if behaviour.raises:
            raise RuntimeError(behaviour.raises)
        return behaviour.returns


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


def register_files(scenario: Scenario) -> None:
    """The scenario's files, in the fake Open WebUI's storage (fresh for every scenario)."""
    owui_modules.install()
    owui_modules.reset()
    fixtures = {"red.png": RED_PNG, "report.pdf": TINY_PDF}
    for file_id, spec in scenario.files.items():
        if spec.fixture:
            data = fixtures[spec.fixture]
        elif spec.base64 is not None:
            data = base64.b64decode(spec.base64)
        else:
            data = (spec.text or "").encode()
        owui_modules.Files.add(
            user_id=spec.owner,
            name=spec.name,
            content_type=spec.content_type,
            data=data,
            file_id=file_id,
        )


class ScenarioRunner:
    """Runs scenarios one after another against one simulator and one function file."""

    def __init__(self, function_path: Path, sim: SimServer) -> None:
        self.function_path = function_path
        self.sim = sim
        self.data_dir = Path(_data_dir())
        self.store_path = self.data_dir / "scenario.db"

    async def run(self, scenario: Scenario) -> ScenarioResult:
        started = time.perf_counter()
        self.sim.reset()
        failures: list[str] = []
        upstream_calls = tool_calls = 0
        # Each scenario starts with an empty artifact store of its own.
        self.store_path = self.data_dir / f"scenario-{new_id()[:12]}.db"
        try:
            scenario = with_internet(scenario)
            register_files(scenario)
            host, tools = self._host(scenario)
            model_id = await self._model_id(host, scenario.model)
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
                outcome = await self._turn(host, scenario, turn, chat, tools, model_id)
                upstream_calls += len(outcome.requests)
                tool_calls += len(outcome.tool_runs)
                prefix = f"turn {number}: "
                failures += [prefix + f for f in check_requests(turn, outcome.requests)]
                failures += [prefix + f for f in check_turn(turn, outcome, scenario)]
                if failures:
                    break
        except Exception as exc:  # a crash is a failure of the scenario, reported plainly
            failures.append(f"crashed: {type(exc).__name__}: {exc}")
        return ScenarioResult(
            scenario,
            not failures,
            failures,
            upstream_calls,
            tool_calls,
            time.perf_counter() - started,
        )

    def _host(self, scenario: Scenario) -> tuple[FakeHost, dict[str, ScriptedTool]]:
        valves = {
            "BASE_URL": self.sim.base_url,
            "API_KEY": self.sim.api_key,
            "ARTIFACT_DATABASE_URL": f"sqlite:///{self.store_path}",
            **scenario.valves,
        }
        user = _host_user(scenario.user)
        host = FakeHost.from_file(
            self.function_path, function_id=FUNCTION_ID, valves=valves, default_user=user
        )
        tools = {name: ScriptedTool(name, spec) for name, spec in scenario.tools.items()}
        return host, tools

    async def _model_id(self, host: FakeHost, slug: str) -> str:
        listed = {m["id"] for m in await host.models()}
        candidates = [
            f"{FUNCTION_ID}.{slug}",
            f"{FUNCTION_ID}.{slug.replace('/', '.', 1)}",
            slug,
        ]
        return next((c for c in candidates if c in listed), candidates[1])

    async def _turn(
        self,
        host: FakeHost,
        scenario: Scenario,
        turn: Turn,
        chat: HostChat,
        tools: dict[str, ScriptedTool],
        model_id: str,
    ) -> TurnOutcome:
        before = len(self.sim.requests_to("/responses"))
        for tool in tools.values():
            tool.calls.clear()
        for _ in range(turn.concurrent):
            self.sim.enqueue(*(queue_spec(s, scenario) for s in turn.upstream))
        if turn.user is not None:
            chat.add_user(turn.user)
        history = chat.history()
        model = await self._model_id(host, turn.model) if turn.model else model_id
        tool_entries = {n: t.entry() for n, t in tools.items()} or None
        spec = turn.as_user or scenario.user
        as_user = _host_user(spec)

        async def one_call() -> Transcript:
            try:
                if turn.task:
                    return await host.task(turn.task, messages=history, model=model, user=as_user)
                return await host.chat(
                    history,
                    model=model,
                    user=as_user,
                    chat_id=chat.chat_id,
                    message_id=new_id(),
                    stream=turn.stream,
                    user_valves=spec.valves or None,
                    tools=tool_entries,
                    features=turn.features or None,
                    extra_body=turn.body or None,
                    ui=scenario.tool_mode == "passthrough",
                )
            except ModelNotFoundError as exc:  # Open WebUI answers 400 "Model not found"
                transcript = Transcript(model=model, stream=turn.stream)
                transcript.message.error = f"Model not found: {exc}"
                return transcript

        transcripts = list(await asyncio.gather(*(one_call() for _ in range(turn.concurrent))))
        requests = self.sim.requests_to("/responses")[before:]
        if turn.task is None and transcripts[0].message.content:
            chat.record(transcripts[0])
        tool_runs = [run for t in transcripts for run in t.tool_runs]
        stored, payloads = read_store(self.store_path)
        return TurnOutcome(transcripts, requests, tool_runs, stored, payloads)


def _host_user(spec: UserSpec) -> HostUser:
    return HostUser(id=spec.id, name=spec.name, email=spec.email, role=spec.role)
