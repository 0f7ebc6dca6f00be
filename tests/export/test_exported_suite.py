"""The pipe's tests, run again against the exported function file (see tests/exported_pipe.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_pipe_tests_pass_against_the_exported_file() -> None:
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "pipe").glob("test_*.py"))
    files.append("tests/storage/test_replay_pipe.py")  # turns that remember, through the file
    assert files, "no pipe tests found"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--pipe-impl=exported",
            *files,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=580,
    )
    tail = "\n".join((res.stdout + res.stderr).splitlines()[-40:])
    assert res.returncode == 0, tail
    assert " passed" in tail and "error" not in tail.splitlines()[-1], tail


def test_the_exported_module_really_stands_in_for_the_package() -> None:
    probe = (
        "import tests.export.exported_pipe as e, sys; m = e.install_exported_pipe();"
        "import pipe, pipe.errors; from pipe.sse import SSEDecoder;"
        "assert pipe is m and pipe.errors is m and SSEDecoder is m.SSEDecoder;"
        "assert m.__name__.startswith('function_openrouter_'); print('ok')"
    )
    res = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert res.stdout.strip() == "ok", res.stderr
