"""Fixtures shared by every test group. Each group (tests/pipe, tests/sim, tests/host,
tests/cassettes, tests/openwebui, ...) keeps its own in its conftest.py.

`openrouter_sim` yields a running fake OpenRouter (`SimServer`) with fresh state for each test:
one server per session, reset (journal, queue, fault counters, config) before every test.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator

import pytest

from simulator.openrouter.server import SimServer
from simulator.openrouter.state import SimConfig

# Real services shared across groups (started on demand, free ports, temp dirs).
pytest_plugins = ["tests.fixtures_postgres", "tests.redis_fixtures"]


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


@pytest.fixture
def closed_url() -> str:
    """A loopback URL nothing listens on: a port the OS just handed out and was released
    (never a fixed port assumed to be closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True, scope="session")
def _pipe_data_dir() -> Iterator[str]:
    """Pipes made by tests keep their artifact database and key file in a temp DATA_DIR,
    never in the working directory (a test that cares sets its own)."""
    with tempfile.TemporaryDirectory(prefix="orsim-data-") as path:
        previous = os.environ.get("DATA_DIR")
        os.environ["DATA_DIR"] = path
        yield path
        if previous is None:
            os.environ.pop("DATA_DIR", None)
        else:
            os.environ["DATA_DIR"] = previous
