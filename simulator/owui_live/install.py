"""Install Open WebUI 0.12.4 into its own cached virtual environment (never the project's).

Why a separate venv: Open WebUI pins many packages (pydantic, fastapi, httpx...). We only ever
talk to it over HTTP as a subprocess. CPU torch is installed first so pip takes the wheel this
machine keeps on disk instead of the 7 GB CUDA stack.

Idempotent: a marker file records a complete install; a file lock (fcntl) makes parallel test
sessions wait for one installer instead of installing twice.

Run `python -m simulator.owui_live.install` to warm the cache ahead of a test run.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

OWUI_VERSION = "0.12.4"
TORCH_VERSION = "2.13.0"
VENV_ENV_VAR = "ORSIM_OWUI_VENV"
MARKER_NAME = ".orsim-install-complete"


class InstallError(RuntimeError):
    """The Open WebUI venv could not be built; the message names the log to read."""


@dataclass(frozen=True)
class OwuiVenv:
    """A complete Open WebUI venv."""

    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def serve_command(self) -> list[str]:
        return [str(self.path / "bin" / "open-webui"), "serve"]


def default_venv_path() -> Path:
    override = os.environ.get(VENV_ENV_VAR)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "orsim" / f"open-webui-{OWUI_VERSION}" / "venv"


def is_installed(path: Path | None = None) -> bool:
    path = path or default_venv_path()
    marker = path / MARKER_NAME
    if not marker.is_file():
        return False
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return info.get("open_webui") == OWUI_VERSION and (path / "bin" / "open-webui").exists()


def _run(cmd: list[str], log) -> None:
    log.write(f"\n$ {' '.join(cmd)}\n")
    log.flush()
    proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise InstallError(f"command failed ({proc.returncode}): {' '.join(cmd)}; see {log.name}")


def ensure_installed(path: Path | None = None, *, quiet: bool = True) -> OwuiVenv:
    """Return the venv, building it first when missing. Safe to call from parallel processes."""
    path = (path or default_venv_path()).resolve()
    if is_installed(path):
        return OwuiVenv(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.parent / (path.name + ".lock")
    log_path = path.parent / (path.name + ".install.log")
    with open(lock_path, "w") as lock:
        # Blocks while another process installs; then the marker check below short-circuits.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_installed(path):
            return OwuiVenv(path)
        started = time.monotonic()
        with open(log_path, "w") as log:
            if not (path / "bin" / "python").exists():
                _run([sys.executable, "-m", "venv", str(path)], log)
            pip = [
                str(path / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
            ]
            if quiet:
                pip.append("-q")
            # torch first: the CPU wheel from local find-links, not the CUDA build.
            _run([*pip, f"torch=={TORCH_VERSION}"], log)
            _run([*pip, f"open-webui=={OWUI_VERSION}"], log)
            if not (path / "bin" / "open-webui").exists():
                raise InstallError(
                    f"open-webui console script missing after install; see {log_path}"
                )
        (path / MARKER_NAME).write_text(
            json.dumps(
                {
                    "open_webui": OWUI_VERSION,
                    "torch": TORCH_VERSION,
                    "seconds": round(time.monotonic() - started, 1),
                }
            )
        )
        return OwuiVenv(path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else None
    started = time.monotonic()
    try:
        venv = ensure_installed(path, quiet=True)
    except InstallError as exc:
        print(f"install failed: {exc}", file=sys.stderr)
        return 1
    print(f"Open WebUI {OWUI_VERSION} ready in {venv.path} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
