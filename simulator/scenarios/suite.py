"""Run scenario files end to end: one simulator, the exported pipe, a report."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path

from simulator.export import export_function
from simulator.openrouter.server import SimServer
from simulator.scenarios.model import Scenario, discover, load_scenario_file
from simulator.scenarios.runner import ScenarioResult, ScenarioRunner


def exported_function_file(directory: Path) -> Path:
    """The single-file function an operator deploys: scenarios test what ships."""
    return export_function(directory / "openrouter_responses_pipe.py")


def load_all(paths: list[Path]) -> list[Scenario]:
    scenarios: list[Scenario] = []
    for file in discover(paths):
        scenarios.extend(load_scenario_file(file))
    return scenarios


async def run_scenarios(
    scenarios: list[Scenario],
    *,
    function_path: Path | None = None,
    on_result: Callable[[ScenarioResult], None] | None = None,
) -> list[ScenarioResult]:
    results: list[ScenarioResult] = []
    with tempfile.TemporaryDirectory(prefix="orsim-run-") as tmp:
        path = function_path or exported_function_file(Path(tmp))
        async with SimServer() as sim:
            runner = ScenarioRunner(path, sim)
            for scenario in scenarios:
                result = await runner.run(scenario)
                results.append(result)
                if on_result:
                    on_result(result)
    return results


def run_paths(paths: list[Path], function_path: Path | None = None) -> list[ScenarioResult]:
    return asyncio.run(run_scenarios(load_all(paths), function_path=function_path))
