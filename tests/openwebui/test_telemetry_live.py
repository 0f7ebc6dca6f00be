"""The pipe's spans and metrics in the real Open WebUI 0.12.4 with ENABLE_OTEL, exported over
OTLP/HTTP to a local collector stand-in (a loopback HTTP server keeping what it receives).

Open WebUI's telemetry setup imports the OTLP/HTTP exporter and a dozen instrumentation packages
that `pip install open-webui==0.12.4` does not bring (its Docker image does), so ENABLE_OTEL
fails at start-up on a plain pip install. The test installs them into an overlay directory on
PYTHONPATH (the shared venv is left as it is); docs/operations.md tells operators.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from simulator.export import export_function
from simulator.openrouter.server import SimServer

pytestmark = [pytest.mark.openwebui, pytest.mark.timeout(400)]

# What Open WebUI's telemetry modules import and `pip install open-webui==0.12.4` lacks (its
# Docker image has them); versions next to the SDK already in the venv (1.45 / 0.66).
OTEL_EXTRAS = [  # ~/.cache/orsim/owui-0.12.4-otel-extras (delete it to reinstall)
    # 1.45's HTTP exporter needs opentelemetry-exporter-http-transport 0.66b2, not on PyPI
    # mirrors yet; 1.41 imports cleanly against the venv's 1.45 SDK and proto packages.
    "opentelemetry-exporter-otlp-proto-http==1.41.0",
    "opentelemetry-instrumentation>=0.66b0,<0.67",
    "opentelemetry-instrumentation-aiohttp-client>=0.66b0,<0.67",
    "opentelemetry-instrumentation-asgi>=0.66b0,<0.67",
    "opentelemetry-instrumentation-fastapi>=0.66b0,<0.67",
    "opentelemetry-instrumentation-httpx>=0.66b0,<0.67",
    "opentelemetry-instrumentation-logging>=0.66b0,<0.67",
    "opentelemetry-instrumentation-redis>=0.66b0,<0.67",
    "opentelemetry-instrumentation-requests>=0.66b0,<0.67",
    "opentelemetry-instrumentation-sqlalchemy>=0.66b0,<0.67",
    "opentelemetry-instrumentation-system-metrics>=0.66b0,<0.67",
    "opentelemetry-util-http>=0.66b0,<0.67",
    "wrapt",
    "psutil",
]
ASK = [{"role": "user", "content": "hello"}]


class Collector:
    """Accepts OTLP/HTTP exports (protobuf) and keeps them by path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                collector.received.append((self.path, body))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, path: str) -> bytes:
        return b"".join(body for p, body in self.received if p == path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def exporter_overlay(venv_python: Path) -> Path:
    """Open WebUI's missing telemetry packages, installed once (cached) into their own
    directory: the shared venv is never modified."""
    overlay = Path.home() / ".cache" / "orsim" / "owui-0.12.4-otel-extras"
    if not overlay.exists():
        staging = overlay.with_name(overlay.name + f".tmp{os.getpid()}")
        subprocess.run(
            [
                str(venv_python),
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "-t",
                str(staging),
                *OTEL_EXTRAS,
            ],
            check=True,
            timeout=300,
        )
        try:
            staging.rename(overlay)
        except OSError:  # another run installed it first
            shutil.rmtree(staging, ignore_errors=True)
    return overlay


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.close()


@pytest.fixture(scope="module")
def owui_with_otel(collector: Collector) -> Iterator:
    from simulator.owui_live.install import ensure_installed
    from simulator.owui_live.instance import OpenWebUI

    venv = ensure_installed()
    env = {
        "PYTHONPATH": str(exporter_overlay(venv.path / "bin" / "python")),
        "ENABLE_OTEL": "true",
        "ENABLE_OTEL_TRACES": "true",
        "ENABLE_OTEL_METRICS": "true",
        "OTEL_OTLP_SPAN_EXPORTER": "http",
        "OTEL_METRICS_OTLP_SPAN_EXPORTER": "http",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url + "/v1/traces",
        "OTEL_METRICS_EXPORTER_OTLP_ENDPOINT": collector.url + "/v1/metrics",
        "OTEL_METRICS_EXPORT_INTERVAL_MILLIS": "500",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    with OpenWebUI.start(venv, env=env) as instance:
        yield instance


async def test_pipe_spans_and_metrics_reach_the_collector(owui_with_otel, collector, tmp_path):
    owui = owui_with_otel
    function = export_function(tmp_path / "openrouter_responses_pipe.py")
    with SimServer() as sim:
        fid = "otel_pipe"
        owui.create_function(
            function, id=fid, valves={"BASE_URL": sim.base_url, "API_KEY": sim.api_key}
        )
        sim.enqueue({"script": {"text": "traced answer"}})
        reply = await owui.chat(fid + ".openai.gpt-4o-mini", ASK, stream=True)
        assert reply.status == 200 and reply.text == "traced answer"
        deadline = time.monotonic() + 30
        wanted_spans = (b"openrouter.request", b"openrouter.upstream.attempt")
        wanted_metrics = (b"openrouter.time_to_first_token", b"openrouter.tokens.output")
        while time.monotonic() < deadline:
            traces, metrics = collector.bodies("/v1/traces"), collector.bodies("/v1/metrics")
            if all(w in traces for w in wanted_spans) and all(w in metrics for w in wanted_metrics):
                break
            await asyncio.sleep(0.25)
        traces, metrics = collector.bodies("/v1/traces"), collector.bodies("/v1/metrics")
        assert all(w in traces for w in wanted_spans), "pipe spans never reached the collector"
        assert b"openrouter.catalog.fetch" in traces
        assert all(w in metrics for w in wanted_metrics)
        assert sim.api_key.encode() not in traces + metrics
