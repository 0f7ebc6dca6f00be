"""Collect scenario YAML files as pytest tests, so the test command runs the suites too.

Files are collected when they live under a folder named `scenarios`. One fake OpenRouter and
one freshly exported function file serve the whole session.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from simulator.scenarios.model import Scenario, ScenarioFileError, load_scenario_file


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and "scenarios" in file_path.parts:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self):
        try:
            scenarios = load_scenario_file(self.path)
        except ScenarioFileError as exc:
            raise self.CollectError(str(exc)) from exc
        for scenario in scenarios:
            yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioFailed(Exception):
    pass


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        runner = _session_runner(self.session)
        result = asyncio.run(runner.run(self.scenario))
        if not result.passed:
            raise ScenarioFailed(result.failures)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioFailed):
            lines = [f"scenario {self.scenario.name!r} ({self.scenario.source}) failed:"]
            lines += [f"  - {f}" for f in excinfo.value.args[0]]
            return "\n".join(lines)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"scenario: {self.scenario.name}"


def _session_runner(session: pytest.Session):
    """One simulator and one exported function per session, closed at the end."""
    runner = getattr(session, "_orsim_scenario_runner", None)
    if runner is None:
        import tempfile

        from simulator.openrouter.server import SimServer
        from simulator.scenarios.runner import ScenarioRunner
        from simulator.scenarios.suite import exported_function_file

        tmp = tempfile.TemporaryDirectory(prefix="orsim-scenarios-")
        sim = SimServer().start()
        runner = ScenarioRunner(exported_function_file(Path(tmp.name)), sim)
        session._orsim_scenario_runner = runner  # type: ignore[attr-defined]
        session.config.add_cleanup(sim.stop)
        session.config.add_cleanup(tmp.cleanup)
    return runner
