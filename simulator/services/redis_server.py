"""A throwaway redis-server (Debian's `redis-server` package): free loopback port, temp dir.

    server = RedisServer(Path(tmp)).start()   # server.url == redis://127.0.0.1:PORT/0
    server.kill(); server.start()             # a crash (SIGKILL) and a restart on the same port

Without persistence by default (what a crash then loses is what the pipe must survive);
`appendonly=True` gives AOF with fsync on every write.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from simulator.services.postgres import free_port

REDIS_SERVER = shutil.which("redis-server")


def _answers_ping(port: int, password: str = "") -> bool:
    auth = f"AUTH {password}\r\n".encode() if password else b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(auth + b"PING\r\n")
            reply = b""
            while b"PONG" not in reply and b"-" not in reply[:1]:
                chunk = sock.recv(64)
                if not chunk:
                    break
                reply += chunk
            return b"+PONG" in reply
    except OSError:
        return False


class RedisServer:
    """One redis-server process under the test's control."""

    def __init__(self, workdir: Path, *, appendonly: bool = False, password: str = "") -> None:
        if REDIS_SERVER is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.workdir = workdir
        self.port = free_port()
        self.appendonly = appendonly
        self.password = password
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start (or start again, on the same port after a kill)."""
        if self.running:
            return self
        self.starts += 1
        args = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--dbfilename", "dump.rdb",
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--protected-mode", "no",
            "--daemonize", "no",
            "--logfile", str(self.workdir / "redis.log"),
            *(["--requirepass", self.password] if self.password else []),
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _answers_ping(self.port, self.password):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"redis-server did not start on {self.port}:\n{log}")
            time.sleep(0.01)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save, like a crashed server."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
