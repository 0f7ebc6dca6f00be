"""Play a scenario's turns on one fake Open WebUI host: the part of a run that happens where
the pipe lives (in the runner's process, or in a fleet worker process, simulator/scenarios/fleet.py).

`ScenarioHost` loads the function file with the scenario's valves and tools and plays one turn
at a time from the history the runner keeps; the runner queues the upstream answers and checks
what came back.
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

from simulator.host import owui_modules
from simulator.host.call import HostUser, new_id
from simulator.host.host import FakeHost, ModelNotFoundError
from simulator.host.transcript import Transcript
from simulator.internet import RED_PNG, TINY_PDF
from simulator.scenarios.model import Scenario, ToolDef, Turn, UserSpec

FUNCTION_ID = "openrouter"


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


def host_user(spec: UserSpec) -> HostUser:
    return HostUser(id=spec.id, name=spec.name, email=spec.email, role=spec.role)


class ScenarioHost:
    """One scenario's fake host: the function loaded with its valves, its scripted tools."""

    def __init__(self, function_path: Path, scenario: Scenario, valves: dict[str, Any]) -> None:
        self.scenario = scenario
        register_files(scenario)
        self.host = FakeHost.from_file(
            function_path,
            function_id=FUNCTION_ID,
            valves={**valves, **scenario.valves},
            default_user=host_user(scenario.user),
        )
        self.tools = {name: ScriptedTool(name, spec) for name, spec in scenario.tools.items()}
        self._listed: set[str] | None = None

    async def model_id(self, slug: str) -> str:
        if self._listed is None:
            self._listed = {m["id"] for m in await self.host.models()}
        candidates = [
            f"{FUNCTION_ID}.{slug}",
            f"{FUNCTION_ID}.{slug.replace('/', '.', 1)}",
            slug,
        ]
        return next((c for c in candidates if c in self._listed), candidates[1])

    async def play(
        self, turn: Turn, history: list[dict[str, Any]], chat_id: str
    ) -> list[Transcript]:
        """Run one turn (`concurrent` times at once) from the history the runner keeps."""
        scenario = self.scenario
        for tool in self.tools.values():
            tool.calls.clear()
        model = await self.model_id(turn.model or scenario.model)
        tool_entries = {n: t.entry() for n, t in self.tools.items()} or None
        spec = turn.as_user or scenario.user
        as_user = host_user(spec)

        async def one_call() -> Transcript:
            try:
                if turn.task:
                    return await self.host.task(
                        turn.task, messages=history, model=model, user=as_user
                    )
                return await self.host.chat(
                    history,
                    model=model,
                    user=as_user,
                    chat_id=chat_id,
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

        return list(await asyncio.gather(*(one_call() for _ in range(turn.concurrent))))

    async def aclose(self) -> None:
        """Close the pipe's runtimes (its write-behind queue drains to the database)."""
        await self.host.aclose()
