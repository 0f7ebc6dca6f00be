"""Fixtures for the fake Open WebUI host: test pipes, in-process hosts, `orsim serve-host`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.host.host import FakeHost

HOST_PIPES = Path(__file__).resolve().parent / "pipes"
_LISTENING = re.compile(r"listening on (http://[\d.]+:\d+)")


@pytest.fixture
def host_pipe() -> Callable[[str], Path]:
    """Path of a test pipe by name: `host_pipe("echo_pipe")`."""

    def path(name: str) -> Path:
        found = HOST_PIPES / f"{name}.py"
        assert found.exists(), f"no test pipe {found}"
        return found

    return path


@pytest.fixture
def make_host(host_pipe) -> Callable[..., FakeHost]:
    """`make_host("echo_pipe", valves={...})`: a FakeHost with one test pipe loaded."""

    def make(pipe: str, /, **kwargs: Any) -> FakeHost:
        return FakeHost.from_file(host_pipe(pipe), **kwargs)

    return make


@dataclass
class ServedHost:
    url: str
    process: subprocess.Popen
    token: str = "sk-orsim-admin"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _wait_healthy(url: str, deadline: float) -> None:
    """The port is bound before the workers run: poll /health until it answers."""
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url}/health never answered")


@pytest.fixture
def serve_host() -> Iterator[Callable[..., ServedHost]]:
    """Start `orsim serve-host ARGS...` as a subprocess; stopped (by pid) at teardown."""
    started: list[subprocess.Popen] = []

    def start(*args: str, timeout: float = 30.0) -> ServedHost:
        cmd = [sys.executable, "-m", "simulator.cli", "serve-host", "--port", "0", *args]
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        started.append(proc)
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = _LISTENING.search(line)
            if match:
                served = ServedHost(url=match.group(1), process=proc)
                _wait_healthy(served.url, deadline)
                return served
        proc.kill()
        raise RuntimeError("orsim serve-host did not start:\n" + "".join(seen))

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.stdout:
            proc.stdout.close()
