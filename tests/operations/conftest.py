"""Fixtures of the operations tests (session-log archives, usage records, `orsim logs`):
the pipe's data directory and WEBUI_SECRET_KEY in a temp dir, runtimes closed per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.host.conftest import serve_host  # noqa: F401  (two-worker archives)

SECRET = "session-log-test-secret-" + "x" * 20


@pytest.fixture(autouse=True)
async def _close_pipe_runtime() -> AsyncIterator[None]:
    from pipe.runtime import close_runtimes

    yield
    await close_runtimes()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """DATA_DIR (the pipe's SQLite file and key file) and WEBUI_SECRET_KEY for one test."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WEBUI_SECRET_KEY", SECRET)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path
