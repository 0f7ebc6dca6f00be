"""Pytest fixtures for the fake OpenRouter (`simulator.openrouter`).

`openrouter_sim` yields a running `SimServer` with fresh state for each test: one server per
session, reset (journal, queue, fault counters, config) before every test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.openrouter.server import SimServer
from simulator.openrouter.state import SimConfig


@pytest.fixture(scope="session")
def _openrouter_sim_session() -> Iterator[SimServer]:
    with SimServer() as sim:
        yield sim


@pytest.fixture
def openrouter_sim(_openrouter_sim_session: SimServer) -> Iterator[SimServer]:
    sim = _openrouter_sim_session
    sim.state.config = SimConfig()
    sim.reset()
    yield sim
    sim.state.config = SimConfig()
    sim.reset()
