"""Fixtures of the pipe's tests (run against the package, or the exported file with
`pytest --pipe-impl=exported`: `pipe` is imported lazily, after that option took effect)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest


@pytest.fixture(autouse=True)
async def _close_pipe_runtime() -> AsyncIterator[None]:
    """Each test's event loop gets its own runtime; close its HTTP clients at the end."""
    from pipe.runtime import close_runtimes

    yield
    await close_runtimes()
