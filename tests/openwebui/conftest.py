"""Fixtures for the live Open WebUI tests: one real Open WebUI 0.12.4 per test session.

The install (about 130 s and 3 GB, cached under ~/.cache/orsim) runs at collection time, when
no per-test timeout applies; starting the server (about 12 s) happens in the session fixture.
Set ORSIM_SKIP_OPENWEBUI=1 to skip all of it while iterating locally.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

SKIP_ENV = "ORSIM_SKIP_OPENWEBUI"
STARTUP_TIMEOUT = 300  # seconds a live test may take, its share of the server start included
PIPES = Path(__file__).resolve().parent / "pipes"
_ids = itertools.count(1)


def skip_reason() -> str | None:
    if os.environ.get(SKIP_ENV, "").strip() not in ("", "0", "false", "no"):
        return f"real Open WebUI tests skipped: {SKIP_ENV}={os.environ[SKIP_ENV]}"
    return None


@pytest.hookimpl(trylast=True)  # after `-m`/`-k` deselection: no install for deselected tests
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    live = [item for item in items if item.get_closest_marker("openwebui")]
    if not live:
        return
    reason = skip_reason()
    if reason:
        for item in live:
            item.add_marker(pytest.mark.skip(reason=reason))
        return
    for item in live:
        # Whichever test comes first also starts the session's Open WebUI (12 s when the
        # machine is idle, over a minute when it is shared): the 60 s default would fail it
        # and, with it, every test of the session.
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(STARTUP_TIMEOUT))
    from simulator.owui_live.install import ensure_installed, is_installed

    if not is_installed():
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(
                "installing Open WebUI 0.12.4 into its cached venv (first run only)..."
            )
        ensure_installed()


@pytest.fixture(scope="session")
def owui() -> Iterator:
    """The session's running Open WebUI, admin signed in."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from simulator.owui_live.instance import OpenWebUI

    with OpenWebUI.start() as instance:
        yield instance


@pytest.fixture
def owui_function(owui):
    """Factory: install a function file under a fresh id; removed after the test.

    `owui_function("plain_pipe.py", valves={...})` returns the function (model) id.
    """
    created: list[str] = []

    def make(file: str | Path, *, valves=None, user_valves=None, prefix: str | None = None) -> str:
        path = Path(file) if Path(file).is_absolute() else PIPES / file
        function_id = f"{prefix or path.stem}_{next(_ids)}"
        owui.create_function(path, id=function_id, valves=valves, user_valves=user_valves)
        created.append(function_id)
        return function_id

    yield make
    for function_id in created:
        owui.delete_function(function_id)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The production pipe as `orsim export-function` writes it (one per test module)."""
    from simulator.export import export_function

    return export_function(tmp_path_factory.mktemp("export") / "openrouter_responses_pipe.py")


@pytest.fixture(scope="module")
def sim():
    """A fake OpenRouter for the module's tests (the real Open WebUI reaches it over HTTP)."""
    from simulator.openrouter.server import SimServer

    with SimServer() as server:
        yield server
