"""Run scenario files end to end: one simulator, the exported pipe, a report."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simulator.export import export_function
from simulator.openrouter.server import SimServer
from simulator.scenarios.fleet import FleetError, FleetPlayers, FleetServices, fleet_stores
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


@dataclass
class FleetOptions:
    """`orsim run --workers K --redis URL|auto --database-url URL|auto` (fleet.py)."""

    workers: int = 1
    redis: str = ""
    database_url: str = ""
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise FleetError(f"--workers must be at least 1, not {self.workers}")

    @property
    def wanted(self) -> bool:
        return self.workers > 1 or bool(self.redis) or bool(self.database_url)


async def run_scenarios(
    scenarios: list[Scenario],
    *,
    function_path: Path | None = None,
    on_result: Callable[[ScenarioResult], None] | None = None,
    fleet: FleetOptions | None = None,
) -> list[ScenarioResult]:
    results: list[ScenarioResult] = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="orsim-run-"))
        path = function_path or exported_function_file(Path(tmp))
        players = stores = None
        if fleet is not None and fleet.wanted:
            services = stack.enter_context(FleetServices(fleet.redis, fleet.database_url))
            players = FleetPlayers(path, fleet.workers, services, verbose=fleet.verbose)
            stack.callback(players.stop)
            players.start()
            stores = fleet_stores(services, Path(tmp))
        async with SimServer() as sim:
            runner = ScenarioRunner(path, sim, players, stores)
            for scenario in scenarios:
                result = await runner.run(scenario)
                results.append(result)
                if on_result:
                    on_result(result)
    return results


def run_paths(
    paths: list[Path], function_path: Path | None = None, fleet: FleetOptions | None = None
) -> list[ScenarioResult]:
    return asyncio.run(run_scenarios(load_all(paths), function_path=function_path, fleet=fleet))
