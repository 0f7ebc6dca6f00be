"""Run `open-webui serve` as a subprocess: offline environment, free port, health wait, stop.

The environment (see docs/openwebui-live.md) switches off everything that could reach the
network, the embedding model is empty (no HF download attempt), and
the data directory is fresh per instance.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

SECRET_KEY = "orsim-owui-live-secret-key-0123456789abcdef"  # 32+ chars: no PyJWT warning
WORKER_EVENT = re.compile(r"Started server process \[|Child process \[\d+\] died")


class StartError(RuntimeError):
    """Open WebUI did not become healthy; the message carries the log tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def offline_env(
    venv: Path, data_dir: Path, port: int, extra: dict[str, str] | None
) -> dict[str, str]:
    # A clean environment: nothing from the project's venv (VIRTUAL_ENV, PYTHONPATH) leaks in.
    keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "TZ")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["PATH"] = f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "OFFLINE_MODE": "true",
            "HF_HUB_OFFLINE": "1",
            "RAG_EMBEDDING_MODEL": "",
            "RAG_EMBEDDING_MODEL_AUTO_UPDATE": "false",
            "RAG_RERANKING_MODEL_AUTO_UPDATE": "false",
            "WHISPER_MODEL_AUTO_UPDATE": "false",
            "ENABLE_OLLAMA_API": "false",
            "ENABLE_OPENAI_API": "false",
            "OLLAMA_BASE_URL": "http://127.0.0.1:11434",  # explicit: skips the import-time probe
            "WEBUI_SECRET_KEY": SECRET_KEY,
            "ENABLE_VERSION_UPDATE_CHECK": "false",
            "ENABLE_PIP_INSTALL_FRONTMATTER_REQUIREMENTS": "false",
            "ANONYMIZED_TELEMETRY": "false",
            "DO_NOT_TRACK": "true",
            "SCARF_NO_ANALYTICS": "true",
            "CORS_ALLOW_ORIGIN": f"http://127.0.0.1:{port}",
            "BYPASS_MODEL_ACCESS_CONTROL": "true",
            # Title generation stays on (tests call the task endpoint); tags and follow-ups
            # would call the pipe again after every UI chat and blur event sequences.
            "ENABLE_TAGS_GENERATION": "false",
            "ENABLE_FOLLOW_UP_GENERATION": "false",
            "UVICORN_WORKERS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def launch(
    venv: Path, data_dir: Path, port: int, log_path: Path, extra_env=None
) -> subprocess.Popen:
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [str(venv / "bin" / "open-webui"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=str(data_dir),  # serve writes stray files (e.g. .webui_secret_key) into its cwd
            env=offline_env(venv, data_dir, port, extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() can signal exactly it
        )


def prepare_database(
    venv: Path, data_dir: Path, log_path: Path, extra_env: dict[str, str] | None, timeout: float
) -> None:
    """Boot one worker on the same data dir and DATABASE_URL until healthy, then stop it:
    the schema is migrated and the config rows exist before several workers start."""
    env = {**(extra_env or {}), "UVICORN_WORKERS": "1"}
    port = free_port()
    proc = launch(venv, data_dir, port, log_path, env)
    try:
        wait_healthy(proc, f"http://127.0.0.1:{port}", log_path, timeout)
    finally:
        stop(proc)


def log_tail(log_path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


def wait_healthy(
    proc: subprocess.Popen, base_url: str, log_path: Path, timeout: float, workers: int = 1
) -> float:
    """Seconds until /health answers and, with several uvicorn workers, until every one of
    them accepts connections: /health is answered by the first worker up, and a test that
    starts then sees a one-worker server (or the other worker's start-up) instead."""
    started = time.monotonic()
    deadline = started + timeout
    port = int(base_url.rsplit(":", 1)[1])
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StartError(
                    f"open-webui exited with {proc.returncode} before /health; log {log_path}:\n"
                    + log_tail(log_path)
                )
            try:
                healthy = client.get(f"{base_url}/health").json().get("status") is True
            except (httpx.HTTPError, ValueError):
                healthy = False
            if healthy and (workers <= 1 or serving_workers(proc.pid, port) >= workers):
                return time.monotonic() - started
            time.sleep(0.25)
    raise StartError(
        f"open-webui not healthy with {workers} worker(s) after {timeout:.0f} s "
        f"({serving_workers(proc.pid, port)} serving); log {log_path}:\n" + log_tail(log_path)
    )


def serving_workers(pid: int, port: int) -> int:
    """How many processes under `pid` accept on `port` (Linux): uvicorn's workers share the
    listening socket, and one serves once its event loop's epoll watches that socket."""
    listening = {
        fields[9]
        for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A"
    }
    count = 0
    for child in _children(pid):
        try:
            links = {
                int(fd): os.readlink(f"/proc/{child}/fd/{fd}")
                for fd in os.listdir(f"/proc/{child}/fd")
            }
            sockets = {fd for fd, link in links.items() if link[8:-1] in listening}
            watched: set[int] = set()
            for fd, link in links.items():
                if link == "anon_inode:[eventpoll]":
                    info = Path(f"/proc/{child}/fdinfo/{fd}").read_text()
                    watched |= {int(n) for n in re.findall(r"tfd:\s*(\d+)", info)}
        except OSError:
            continue  # it exited meanwhile
        count += bool(sockets & watched)
    return count


def _children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    for task in tasks:
        try:
            out += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return out


def worker_events(log_path: Path) -> list[str]:
    """uvicorn's lines about its worker processes (started, died: restarted by the
    supervisor, e.g. after a missed health check), in order."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if WORKER_EVENT.search(line)]


def stop(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM the server's own process group, then SIGKILL if it lingers."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)


def process_tree_cpu_seconds(pid: int) -> float:
    """user+system CPU of `pid` and its live descendants, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
        except OSError:
            continue
        # Field 2 (comm) may hold spaces; everything after the last ')' is space-separated.
        fields = stat.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                stack.extend(int(c) for c in children)
        except OSError:
            pass
    return total
