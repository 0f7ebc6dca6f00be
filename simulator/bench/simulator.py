"""`orsim bench simulator`: how fast the fake OpenRouter serves a replayed stream.

Two servers, each ONE uvicorn worker in its own process on loopback, serve the same
2,000-event stream (a keep-alive, the events, `[DONE]`; one event per chunk):
  * sim      - the full fake OpenRouter (auth, request validation, journal, cassette matching,
               chunking plan) replaying a cassette instantly;
  * baseline - a bare Starlette endpoint streaming the same precomputed chunks.
N concurrent async clients (httpx) pull streams. Printed per level: SSE events/s (wall clock),
events per server-CPU-second (one core's capacity, from /proc), and time to first byte p50/p95
for both, with the simulator's own added TTFB (sim - baseline) measured in the same run.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

MODEL = "openai/gpt-4o-mini"
API_KEY = "sk-or-v1-bench"
BODY_BASE = {"model": MODEL, "input": "benchmark stream", "stream": True}


def stream_chunks(events: int) -> list[bytes]:
    """A keep-alive, `events` canonical events (mostly one-word text deltas), then [DONE]."""
    from simulator.openrouter import synth

    words = max(1, events - 8)  # created, in_progress, item/part added+done, text done, completed
    text = " ".join(f"w{n}" for n in range(words))
    built = synth.build_events(synth.Script(model=MODEL, seed="bench", text=text))
    assert len(built) == events, (len(built), events)
    return [synth.KEEPALIVE, *(synth.encode_event(e) for e in built), synth.DONE]


def bench_cassette(events: int):
    from simulator.cassettes.format import Cassette, Interaction, RecordedRequest, stream_response

    chunks = [(0.001 * n, data) for n, data in enumerate(stream_chunks(events))]
    response = stream_response(200, [("content-type", "text/event-stream")], chunks)
    request = RecordedRequest(method="POST", path="/api/v1/responses", body=BODY_BASE)
    return Cassette(
        name="bench",
        synthesised=True,
        interactions=[Interaction(request=request, response=response)],
    )


def _app(kind: str, events: int):
    if kind == "sim":
        from simulator.cassettes.player import CassettePlayer
        from simulator.openrouter.app import create_app

        return create_app(player=CassettePlayer(bench_cassette(events), allow_repeats=True))
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    chunks = stream_chunks(events)

    async def body():
        for chunk in chunks:
            yield chunk

    async def endpoint(_request):
        return StreamingResponse(body(), media_type="text/event-stream")

    return Starlette(routes=[Route("/api/v1/responses", endpoint, methods=["POST"])])


def serve(kind: str, events: int) -> None:
    """Child-process entry: serve `kind` on a free loopback port and print the port."""
    import uvicorn

    from simulator.net import serve_foreground

    del uvicorn  # imported first so a missing server fails before the port is announced
    serve_foreground(_app(kind, events), "127.0.0.1", 0, lambda port: print(port, flush=True))


@dataclass
class Server:
    kind: str
    process: subprocess.Popen
    url: str

    def cpu_seconds(self) -> float | None:
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(kind: str, events: int) -> Server:
    code = f"from simulator.bench.simulator import serve; serve({kind!r}, {events})"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.isdigit():
        process.kill()
        raise RuntimeError(f"{kind} server did not start (said {line!r})")
    return Server(kind, process, f"http://127.0.0.1:{line}/api/v1/responses")


@dataclass
class Level:
    clients: int
    streams: int
    events: int
    seconds: float
    cpu: float | None
    ttfb: list[float]

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    @property
    def events_per_cpu_s(self) -> float | None:
        return self.events / self.cpu if self.cpu else None

    def pct(self, q: float) -> float:
        ordered = sorted(self.ttfb)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _one(client: httpx.AsyncClient, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    first = 0.0
    pieces: list[bytes] = []
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with client.stream("POST", url, json=BODY_BASE, headers=headers) as reply:
        async for piece in reply.aiter_raw():
            if not pieces:
                first = time.perf_counter() - started
            pieces.append(piece)
        if reply.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {reply.status_code}: {b''.join(pieces)[:300]!r}")
    return first, b"".join(pieces).count(b"data: {")


async def run_level(server: Server, clients: int, streams: int) -> Level:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        await _one(client, server.url)  # warm-up: imports, first connection
        queue = list(range(streams))
        ttfb: list[float] = []
        total = 0

        async def worker() -> None:
            nonlocal total
            while queue:
                queue.pop()
                first, count = await _one(client, server.url)
                ttfb.append(first)
                total += count

        cpu_before = server.cpu_seconds()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        seconds = time.perf_counter() - started
        cpu_after = server.cpu_seconds()
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return Level(clients, streams, total, seconds, cpu, ttfb)


def run(clients: list[int], events: int, requests: int) -> list[tuple[Level, Level]]:
    servers = [start("sim", events), start("baseline", events)]
    try:
        results = []
        for n in clients:
            streams = requests or max(8, 4 * n)
            sim = asyncio.run(run_level(servers[0], n, streams))
            bare = asyncio.run(run_level(servers[1], n, streams))
            expected = streams * events
            if sim.events != expected or bare.events != expected:
                raise RuntimeError(f"served {sim.events}/{bare.events} events, expected {expected}")
            results.append((sim, bare))
        return results
    finally:
        for server in servers:
            server.process.terminate()
            server.process.wait(timeout=10)


def render(results: list[tuple[Level, Level]], events: int, console: Console) -> None:
    table = Table(
        title=f"orsim bench simulator: instant replay of a {events}-event stream, one worker"
    )
    columns = [
        "clients", "streams", "sim ev/s", "base ev/s", "sim ev/cpu-s", "base ev/cpu-s",
        "sim ttfb p50/p95 ms", "base ttfb p50/p95 ms", "added ttfb p50/p95 ms",
    ]  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    for sim, bare in results:

        def cpu(level: Level) -> str:
            value = level.events_per_cpu_s
            return f"{value:,.0f}" if value else "n/a"

        table.add_row(
            str(sim.clients),
            str(sim.streams),
            f"{sim.events_per_s:,.0f}",
            f"{bare.events_per_s:,.0f}",
            cpu(sim),
            cpu(bare),
            f"{sim.pct(0.5):.2f}/{sim.pct(0.95):.2f}",
            f"{bare.pct(0.5):.2f}/{bare.pct(0.95):.2f}",
            f"{sim.pct(0.5) - bare.pct(0.5):.2f}/{sim.pct(0.95) - bare.pct(0.95):.2f}",
        )
    console.print(table)
    worst = min(s.events_per_cpu_s or s.events_per_s for s, _ in results)
    verdict = "meets" if worst >= 20_000 else "BELOW"
    console.print(
        f"lowest simulator rate: {worst:,.0f} events per server-CPU-second ({verdict} the 20,000 target)"
    )
    console.print(
        f"median sim/baseline throughput ratio: {statistics.median(s.events_per_s / b.events_per_s for s, b in results):.2f}"
    )


def cli_main(clients: list[int], events: int, requests: int, console: Console | None = None) -> int:
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    if events < 10 or any(n < 1 for n in clients) or requests < 0:
        console.print("bench simulator: --events must be >= 10, --clients >= 1, --requests >= 0")
        return 2
    results = run(clients, events, requests)
    render(results, events, console)
    return 0
