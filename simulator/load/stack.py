"""The servers a load run drives: the fake OpenRouter and `orsim serve-host --workers K`, each
in its own process group (so stopping one stops all its workers), plus worker RSS sampling."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from simulator.owui_live.process import stop

API_KEY = "sk-or-v1-load"
FUNCTION_ID = "or"


class StackError(RuntimeError):
    """A server did not start; the message holds its log tail."""


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    log: Path

    def close(self) -> None:
        stop(self.proc, grace=10)


def _launch(args: list[str], log: Path, timeout: float = 60.0) -> Server:
    """Start `orsim <args>` and wait for the URL it prints on its first line."""
    out = open(log, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", *args],
        stdout=subprocess.PIPE,
        stderr=out,
        start_new_session=True,
    )
    out.close()
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline and not line:
        line = proc.stdout.readline()
        if proc.poll() is not None and not line:
            break
    text = line.decode(errors="replace").strip()
    url = next((w for w in text.split() if w.startswith("http")), "")
    if not url:
        stop(proc, grace=2)
        raise StackError(f"orsim {args[0]} did not start ({text!r}); log {log}:\n{_tail(log)}")
    return Server(proc, url, log)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


def start_openrouter(out_dir: Path) -> Server:
    return _launch(
        ["serve-openrouter", "--port", "0", "--api-key", API_KEY], out_dir / "openrouter.log"
    )


def start_host(
    out_dir: Path, function: Path, openrouter: str, workers: int, valves: dict[str, Any]
) -> Server:
    all_valves = {"BASE_URL": openrouter, "API_KEY": API_KEY, **valves}
    server = _launch(
        [
            "serve-host",
            "--function",
            str(function),
            "--function-id",
            FUNCTION_ID,
            "--valves",
            json.dumps(all_valves),
            "--workers",
            str(workers),
            "--port",
            "0",
        ],
        out_dir / "host.log",
    )
    _wait_workers(server, workers)
    return server


def _wait_workers(server: Server, workers: int, timeout: float = 60.0) -> None:
    """Healthy, and every worker process has loaded the function."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(server.url + "/health").status_code == 200:
                    if len(worker_pids(server.proc.pid)) >= min(workers, 2) or workers == 1:
                        return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
    raise StackError(f"the host did not become healthy; log {server.log}:\n{_tail(server.log)}")


def warm_up(url: str, model: str, workers: int, token: str = "sk-orsim-admin") -> None:
    """A few short chats at once, so every worker has fetched the catalog before the run
    (the first chat of a worker pays for that, and would count in the TTFT percentiles)."""
    import concurrent.futures

    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "warm up"}]}
    headers = {"Authorization": f"Bearer {token}"}

    def chat(_: int) -> None:
        with httpx.Client(timeout=30) as client:
            client.post(url + "/api/chat/completions", json=body, headers=headers).read()

    with concurrent.futures.ThreadPoolExecutor(4 * workers) as pool:
        list(pool.map(chat, range(4 * workers)))


def worker_pids(pid: int) -> list[int]:
    """The host's worker processes: its spawned children (uvicorn's workers, not the
    multiprocessing resource tracker), or itself alone."""
    kids: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        return []
    workers = [k for k in sorted(kids) if b"spawn_main" in _cmdline(k)]
    return workers or [pid]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None
