"""`orsim bench pipe`: what the pipe costs on top of a bare streaming client.

One fake OpenRouter (its own process, on loopback, so it never competes for this process's
GIL) serves the same scripted stream to two consumers, alternated round by round in one run:

- baseline: a shared httpx.AsyncClient, `aiter_lines`, one `json.loads` per event, yield the
  text of each delta (the least any client must do);
- pipe: `Pipe().pipe(body, __user__, __metadata__, __event_emitter__)` exactly as Open WebUI
  calls it, consuming the generator it returns.

Reported: CPU seconds of this process per 1,000 streamed events, and time to first text added by the pipe (p50
over many short streams). Targets: <= 1.5x the baseline's CPU, < 2 ms added TTFT p50.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx

from pipe import Pipe
from pipe.runtime import close_runtimes
from simulator.openrouter.synth import build_events, encode_event

MODEL = "openai/gpt-4o-mini"
API_KEY = "sk-or-v1-bench"
BODY_MODEL = "openrouter.openai.gpt-4o-mini"
CPU_TARGET = 1.5
TTFT_TARGET_MS = 2.0


class SimProcess:
    """`orsim serve-openrouter` in a child process; queue answers over its control route."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulator.cli", "serve-openrouter", "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().strip() if self.proc.stdout else ""
        if not line.startswith("http"):
            self.proc.kill()
            raise RuntimeError(f"the simulator did not start (printed {line!r})")
        self.base_url = line
        self.api_key = API_KEY
        self._control = httpx.Client(base_url=line.removesuffix("/api/v1"), timeout=10)

    def enqueue(self, spec: dict[str, Any]) -> None:
        self._control.post("/_sim/queue", json=[spec]).raise_for_status()

    def last_received(self, path_suffix: str = "/responses") -> float:
        """When the newest request to `path_suffix` reached the simulator's handler, on the
        `time.perf_counter()` clock of this machine (monotonic, shared by processes)."""
        entries = self._control.get("/_sim/requests", params={"bodies": "0"}).json()
        return float(
            next(e for e in reversed(entries) if e["path"].endswith(path_suffix))["received"]
        )

    def close(self) -> None:
        self._control.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@contextlib.contextmanager
def _simulator() -> Iterator[SimProcess]:
    sim = SimProcess()
    try:
        yield sim
    finally:
        sim.close()


def _script(words: int, seed: int) -> dict[str, Any]:
    return {"model": MODEL, "seed": seed, "text": " ".join(f"word{i}" for i in range(words))}


def _count_events(script: dict[str, Any]) -> int:
    from simulator.openrouter.synth import Script

    return len(build_events(Script(**script)))


async def _noop_emitter(event: dict[str, Any]) -> None:
    encode_event(event)  # what a host does with it: serialise once


async def _baseline(
    client: httpx.AsyncClient, sim: SimProcess, stream_first: asyncio.Event | None = None
) -> int:
    chars = 0
    async with client.stream(
        "POST",
        f"{sim.base_url}/responses",
        json={"model": MODEL, "input": "bench", "stream": True},
        headers={"Authorization": f"Bearer {sim.api_key}"},
    ) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                break
            event = json.loads(data)
            if event.get("type") == "response.output_text.delta":
                if stream_first is not None and not stream_first.is_set():
                    stream_first.set()
                chars += len(event["delta"])
    return chars


async def _through_pipe(pipe: Pipe, stream_first: asyncio.Event | None = None) -> int:
    body = {"model": BODY_MODEL, "messages": [{"role": "user", "content": "bench"}], "stream": True}
    gen = await pipe.pipe(
        body=body,
        __user__={"id": "bench-user", "valves": Pipe.UserValves()},
        __metadata__={"chat_id": "c", "message_id": "m", "session_id": "s"},
        __event_emitter__=_noop_emitter,
    )
    chars = 0
    async for chunk in gen:
        delta = chunk["choices"][0]["delta"] if chunk.get("choices") else {}
        text = delta.get("content")
        if text:
            if stream_first is not None and not stream_first.is_set():
                stream_first.set()
            chars += len(text)
    return chars


async def _timed_first(run, *args) -> float:
    first = asyncio.Event()
    start = time.perf_counter()
    task = asyncio.create_task(run(*args, stream_first=first))
    await first.wait()
    ttft = time.perf_counter() - start
    await task
    return ttft


async def _objects_per_stream(run, *args, streams: int = 40) -> float:
    """Objects tracked by the garbage collector that one running stream keeps alive (streams
    paced slowly, counted mid-answer). On a busy host every such object lives long enough to
    be promoted to the old generation, whose full collections stop every stream of a worker."""
    gc.collect()
    before = {id(o) for o in gc.get_objects()}  # a net count would hide what was freed meanwhile
    started = [asyncio.Event() for _ in range(streams)]
    tasks = [asyncio.create_task(run(*args, stream_first=event)) for event in started]
    for event in started:
        await event.wait()
    await asyncio.sleep(0.2)
    gc.collect()
    held = sum(1 for o in gc.get_objects() if id(o) not in before) / streams
    del before
    await asyncio.gather(*tasks)
    return held


async def _bench(
    events_target: int, rounds: int, tps: float | None, ttft_samples: int
) -> dict[str, Any]:
    with _simulator() as sim:
        pipe = Pipe()
        pipe.valves = Pipe.Valves(
            BASE_URL=sim.base_url, API_KEY=sim.api_key, SHOW_FINAL_USAGE_STATUS=True
        )
        long_script = _script(max(10, events_target - 10), seed=1)
        n_events = _count_events(long_script)
        pacing = {"tps": tps} if tps else {}
        async with httpx.AsyncClient(timeout=60) as client:
            await pipe.pipes()  # warm: catalog cached, client pooled (steady state)
            sim.enqueue({"script": long_script, **pacing})
            await _through_pipe(pipe)
            sim.enqueue({"script": long_script, **pacing})
            await _baseline(client, sim)
            cpu: dict[str, list[float]] = {"baseline": [], "pipe": []}
            for _ in range(rounds):
                for name in ("baseline", "pipe"):
                    sim.enqueue({"script": long_script, **pacing})
                    t0 = time.process_time()
                    if name == "pipe":
                        chars = await _through_pipe(pipe)
                    else:
                        chars = await _baseline(client, sim)
                    cpu[name].append(time.process_time() - t0)
                    assert chars > 0
            ttft: dict[str, list[float]] = {"baseline": [], "pipe": []}
            short = _script(20, seed=2)
            for _ in range(ttft_samples):
                for name in ("baseline", "pipe"):
                    sim.enqueue({"script": short})
                    if name == "pipe":
                        ttft[name].append(await _timed_first(_through_pipe, pipe))
                    else:
                        ttft[name].append(await _timed_first(_baseline, client, sim))
            held: dict[str, float] = {}
            for name in ("baseline", "pipe"):
                slow = {"script": _script(40, seed=3), "tps": 20}
                for _ in range(40):
                    sim.enqueue(slow)
                if name == "pipe":
                    held[name] = await _objects_per_stream(_through_pipe, pipe)
                else:
                    held[name] = await _objects_per_stream(_baseline, client, sim)
            cpu["pipe_otel"] = await _with_telemetry_on(pipe, sim, long_script, pacing, rounds)
        await close_runtimes()
    off_us = _telemetry_off_cost_us()
    per_k = {k: statistics.median(v) / n_events * 1000 for k, v in cpu.items()}
    ttft_p50 = {k: statistics.median(v) * 1000 for k, v in ttft.items()}
    return {
        "events_per_stream": n_events,
        "rounds": rounds,
        "tps": tps,
        "cpu_ms_per_1k_events": {k: v * 1000 for k, v in per_k.items()},
        "cpu_ratio": per_k["pipe"] / per_k["baseline"],
        "telemetry_on_ratio": per_k["pipe_otel"] / per_k["pipe"],
        "telemetry_off_us_per_request": off_us,
        "telemetry_off_share_of_request": off_us / 1e6 / statistics.median(cpu["pipe"]),
        "ttft_p50_ms": ttft_p50,
        "objects_per_stream": held,
        "objects_ratio": held["pipe"] / held["baseline"] if held["baseline"] else 0.0,
        "ttft_added_p50_ms": ttft_p50["pipe"] - ttft_p50["baseline"],
        "ttft_added_samples_ms": statistics.median(
            [p - b for p, b in zip(ttft["pipe"], ttft["baseline"], strict=True)]
        )
        * 1000,
    }


def _telemetry_off_cost_us() -> float:
    """CPU of what the pipe does per request for telemetry while it is off (no provider): the
    provider checks of one request and of one upstream attempt, in microseconds."""
    from pipe.sessionlog import AttemptObserver
    from pipe.telemetry import RequestTelemetry

    n = 20_000
    t0 = time.process_time()
    for _ in range(n):
        RequestTelemetry.start(lambda: None, {"model": MODEL})
        AttemptObserver.start("http://x/responses", b"")
    return (time.process_time() - t0) / n * 1e6


async def _with_telemetry_on(
    pipe: Pipe, sim: SimProcess, script: dict[str, Any], pacing: dict[str, Any], rounds: int
) -> list[float]:
    """The same streams with OpenTelemetry's SDK installed as Open WebUI installs it (batch
    span processor, periodic metric reader), exporting to memory. Measured last: the global
    providers can be set only once per process."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    sim.enqueue({"script": script, **pacing})
    await _through_pipe(pipe)  # warm: instruments created
    times = []
    for _ in range(rounds):
        sim.enqueue({"script": script, **pacing})
        t0 = time.process_time()
        await _through_pipe(pipe)
        times.append(time.process_time() - t0)
    provider.shutdown()
    return times


def run(
    events: int = 1000, rounds: int = 5, tps: float | None = 2000.0, ttft_samples: int = 40
) -> dict[str, Any]:
    return asyncio.run(_bench(events, rounds, tps, ttft_samples))


def cli_main(events: int, rounds: int, tps: float, ttft_samples: int, json_out: str | None) -> int:
    result = run(events, rounds, tps if tps > 0 else None, ttft_samples)
    cpu = result["cpu_ms_per_1k_events"]
    pacing = f"paced at {result['tps']:g} tok/s" if result["tps"] else "burst (instant)"
    print(f"stream: {result['events_per_stream']} events, {pacing}, {result['rounds']} rounds each")
    print(
        f"CPU per 1,000 events   baseline {cpu['baseline']:.2f} ms   pipe {cpu['pipe']:.2f} ms   "
        f"ratio {result['cpu_ratio']:.2f}x (target <= {CPU_TARGET}x)"
    )
    ttft = result["ttft_p50_ms"]
    print(
        f"TTFT p50               baseline {ttft['baseline']:.2f} ms   pipe {ttft['pipe']:.2f} ms   "
        f"added {result['ttft_added_p50_ms']:.2f} ms (target < {TTFT_TARGET_MS} ms)"
    )
    held = result["objects_per_stream"]
    print(
        f"objects per running stream   baseline {held['baseline']:.0f}   pipe {held['pipe']:.0f}   "
        f"ratio {result['objects_ratio']:.2f}x (kept alive for the whole answer)"
    )
    print(
        f"telemetry off          {result['telemetry_off_us_per_request']:.2f} us per request "
        f"({result['telemetry_off_share_of_request'] * 100:.3f}% of the pipe's CPU per stream)"
        f"   telemetry on (SDK): pipe CPU x{result['telemetry_on_ratio']:.2f}"
    )
    ok = result["cpu_ratio"] <= CPU_TARGET and result["ttft_added_p50_ms"] < TTFT_TARGET_MS
    print("targets met" if ok else "TARGETS MISSED")
    if json_out:
        with open(json_out, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    return 0 if ok else 1
