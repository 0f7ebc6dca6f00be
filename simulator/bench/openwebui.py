"""`orsim bench openwebui`: what a pipe costs the real Open WebUI server per streamed chat.

In one live Open WebUI 0.12.4, a candidate function file and a bare baseline pipe (a new httpx
client per chat, one chunk per delta) stream the same generated answer of N deltas from the
fake OpenRouter. The Open WebUI process tree's CPU time (user+system, from /proc) is read
around every chat; chats alternate bare/candidate (order flipped every round) so drift
cancels. Scenarios: upstream in burst (all events at once), paced (about one event per
millisecond) or live (a real model's pace, 75 tokens/s, with a 300-token answer), sequential
or K chats at once. Also time to the first
content byte seen by the client. Results are ratios candidate / bare, measured in the same run.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from simulator.owui_live.bench_pipes import BARE_PIPE, COALESCING_PIPE

BARE_ID = "bench_bare"
CANDIDATE_ID = "bench_candidate"
EXPORTED_DEFAULT_MODEL = "openai.gpt-4o-mini"  # sub-model of the exported manifold
WORD = "tok"  # " tok" is one delta of one token for the simulator's pacing


@dataclass
class BenchConfig:
    function: Path = COALESCING_PIPE
    deltas: int = 2000
    rounds: int = 5
    concurrency: int = 10
    paced_tps: float = 1000.0  # one-token deltas: ~1 ms apart
    live_tps: float = 75.0  # "live": a model's real pace (50-100 tokens/s) ...
    live_deltas: int = 300  # ... with a real answer's length (4 s at 75 tokens/s)
    candidate_model: str | None = None  # default: the function id, or its first sub-model
    candidate_valves: dict[str, Any] = field(default_factory=dict)
    scenarios: tuple[str, ...] = (
        "burst/seq",
        "paced/seq",
        "burst/conc",
        "paced/conc",
        "live/seq",
        "live/conc",
    )
    repeat: int = 1  # whole runs in the same server; with more than one, medians are printed


@dataclass
class ChatSample:
    cpu_s: float
    ttfb_s: float
    wall_s: float


@dataclass
class ScenarioResult:
    name: str
    bare: list[ChatSample] = field(default_factory=list)
    candidate: list[ChatSample] = field(default_factory=list)

    @staticmethod
    def _center(samples: list[ChatSample], attr: str) -> float:
        values = [getattr(s, attr) for s in samples]
        # CPU comes in 10 ms clock ticks: the mean keeps the fractions; times use the median.
        return statistics.fmean(values) if attr == "cpu_s" else statistics.median(values)

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scenario": self.name, "chats": len(self.bare)}
        for attr in ("cpu_s", "ttfb_s", "wall_s"):
            bare, cand = self._center(self.bare, attr), self._center(self.candidate, attr)
            out[f"bare_{attr}"] = bare
            out[f"candidate_{attr}"] = cand
            out[f"ratio_{attr}"] = cand / bare if bare > 0 else float("nan")
        return out


class BenchError(RuntimeError):
    """A chat in the benchmark did not deliver the full answer; numbers would be meaningless."""


def expected_text(deltas: int) -> str:
    return " ".join([WORD] * deltas)


def upstream_spec(deltas: int, tps: float | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "script": {"seed": "bench", "text": expected_text(deltas), "chunk_words": 1}
    }
    if tps:
        spec["tps"] = tps
    return spec


async def stream_chat(client: httpx.AsyncClient, model: str) -> tuple[float, float, str]:
    """POST a streamed chat; return (time to first content byte, wall time, full text)."""
    body = {"model": model, "messages": [{"role": "user", "content": "bench"}], "stream": True}
    started = time.perf_counter()
    ttfb: float | None = None
    parts: list[str] = []
    async with client.stream("POST", "/api/chat/completions", json=body) as resp:
        if resp.status_code != 200:
            raise BenchError(f"{model}: HTTP {resp.status_code}: {(await resp.aread())[:300]!r}")
        async for line in resp.aiter_lines():
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            if "error" in chunk:
                raise BenchError(f"{model}: error chunk {chunk['error']}")
            for choice in chunk.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    if ttfb is None:
                        ttfb = time.perf_counter() - started
                    parts.append(content)
    return ttfb if ttfb is not None else float("nan"), time.perf_counter() - started, "".join(parts)


class Bench:
    """Drives one benchmark in an already running Open WebUI with the fake OpenRouter."""

    def __init__(self, owui: Any, sim: Any, config: BenchConfig) -> None:
        self.owui = owui
        self.sim = sim
        self.config = config
        self.models: dict[str, str] = {}

    def install(self) -> None:
        upstream = {"BASE_URL": self.sim.base_url, "API_KEY": self.sim.api_key}
        self.owui.create_function(BARE_PIPE, id=BARE_ID, valves=upstream)
        self.owui.create_function(
            self.config.function,
            id=CANDIDATE_ID,
            valves={**upstream, **self.config.candidate_valves},
        )
        listed = [m["id"] for m in self.owui.models()]
        self.models = {"bare": BARE_ID, "candidate": self._candidate_model(listed)}

    def _candidate_model(self, listed: list[str]) -> str:
        if self.config.candidate_model:
            wanted = self.config.candidate_model
            model = wanted if wanted.startswith(CANDIDATE_ID) else f"{CANDIDATE_ID}.{wanted}"
            if model not in listed:
                raise BenchError(f"candidate model {model!r} not listed; have {sorted(listed)}")
            return model
        own = [m for m in listed if m == CANDIDATE_ID or m.startswith(CANDIDATE_ID + ".")]
        if not own:
            raise BenchError(f"{self.config.function} lists no model in Open WebUI")
        return own[0]

    async def _batch(
        self,
        client: httpx.AsyncClient,
        who: str,
        n: int,
        tps: float | None,
        deltas: int | None = None,
    ) -> list[ChatSample]:
        """n chats of one pipe at once; CPU of the batch is shared out evenly."""
        deltas = deltas or self.config.deltas
        for _ in range(n):
            self.sim.enqueue(upstream_spec(deltas, tps))
        cpu_before = self.owui.cpu_seconds()
        results = await asyncio.gather(*(stream_chat(client, self.models[who]) for _ in range(n)))
        cpu = (self.owui.cpu_seconds() - cpu_before) / n
        want = expected_text(deltas)
        for _, _, text in results:
            if text.strip() != want:
                raise BenchError(
                    f"{who}: got {len(text)} chars, expected {len(want)}: answer incomplete"
                )
        return [ChatSample(cpu, ttfb, wall) for ttfb, wall, _ in results]

    async def run(self, progress=None) -> list[ScenarioResult]:
        out = []
        limits = httpx.Limits(max_connections=self.config.concurrency * 2 + 4)
        headers = self.owui.headers
        async with httpx.AsyncClient(
            base_url=self.owui.base_url, headers=headers, timeout=120, limits=limits
        ) as client:
            for who in ("bare", "candidate"):  # warm-up: imports, first-call caches
                await self._batch(client, who, 1, None)
            for name in self.config.scenarios:
                pacing, mode = name.split("/")
                tps = {"paced": self.config.paced_tps, "live": self.config.live_tps}.get(pacing)
                deltas = self.config.live_deltas if pacing == "live" else self.config.deltas
                n = self.config.concurrency if mode == "conc" else 1
                result = ScenarioResult(name)
                for r in range(self.config.rounds):
                    order = ("bare", "candidate") if r % 2 == 0 else ("candidate", "bare")
                    for who in order:
                        batch = await self._batch(client, who, n, tps, deltas)
                        getattr(result, who).extend(batch)
                if progress:
                    progress(result)
                out.append(result)
        return out


def format_table(results: list[ScenarioResult], config: BenchConfig) -> str:
    lines = [
        f"Open WebUI server CPU per streamed chat of {config.deltas} deltas; candidate "
        f"{config.function.name} vs bare pipe (CPU: mean, TTFB: median; {config.rounds} rounds alternating)",
        f"{'scenario':<12} {'chats':>5} {'bare CPU ms':>12} {'cand CPU ms':>12} {'CPU ratio':>10} "
        f"{'bare TTFB ms':>13} {'cand TTFB ms':>13} {'TTFB ratio':>11}",
    ]
    for res in results:
        row = res.row()
        lines.append(
            f"{row['scenario']:<12} {row['chats']:>5} {row['bare_cpu_s'] * 1000:>12.1f} "
            f"{row['candidate_cpu_s'] * 1000:>12.1f} {row['ratio_cpu_s']:>9.2f}x "
            f"{row['bare_ttfb_s'] * 1000:>13.1f} {row['candidate_ttfb_s'] * 1000:>13.1f} "
            f"{row['ratio_ttfb_s']:>10.2f}x"
        )
    return "\n".join(lines)


def median_rows(runs: list[list[ScenarioResult]]) -> list[dict[str, Any]]:
    """Per scenario, the median over runs of every figure, and each run's CPU and TTFB ratio."""
    out = []
    for i, first in enumerate(runs[0]):
        rows = [run[i].row() for run in runs]
        merged: dict[str, Any] = {"scenario": first.name, "runs": len(rows)}
        for key in rows[0]:
            if key not in ("scenario", "chats"):
                merged[key] = statistics.median(r[key] for r in rows)
        merged["cpu_ratios"] = [r["ratio_cpu_s"] for r in rows]
        merged["ttfb_ratios"] = [r["ratio_ttfb_s"] for r in rows]
        out.append(merged)
    return out


def format_medians(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"Median of {rows[0]['runs']} runs (each run's ratio in brackets)",
        f"{'scenario':<12} {'bare CPU ms':>12} {'cand CPU ms':>12} {'CPU ratio':>10}  "
        f"{'bare TTFB ms':>13} {'cand TTFB ms':>13} {'TTFB ratio':>11}",
    ]
    for row in rows:
        cpu = " ".join(f"{r:.2f}" for r in row["cpu_ratios"])
        ttfb = " ".join(f"{r:.2f}" for r in row["ttfb_ratios"])
        lines.append(
            f"{row['scenario']:<12} {row['bare_cpu_s'] * 1000:>12.1f} "
            f"{row['candidate_cpu_s'] * 1000:>12.1f} {row['ratio_cpu_s']:>9.2f}x [{cpu}]  "
            f"{row['bare_ttfb_s'] * 1000:>13.1f} {row['candidate_ttfb_s'] * 1000:>13.1f} "
            f"{row['ratio_ttfb_s']:>10.2f}x [{ttfb}]"
        )
    return "\n".join(lines)


def run(config: BenchConfig, *, json_out: Path | None = None, echo=print) -> list[ScenarioResult]:
    """Start Open WebUI and the fake OpenRouter, run the benchmark, print the table."""
    from simulator.openrouter.server import SimServer
    from simulator.owui_live.instance import OpenWebUI

    if not config.function.is_file():
        raise BenchError(f"function file not found: {config.function}")
    with SimServer() as sim, OpenWebUI.start() as owui:
        echo(
            f"Open WebUI pid {owui.pid} healthy in {owui.startup_seconds:.1f} s; upstream {sim.base_url}"
        )
        bench = Bench(owui, sim, config)
        bench.install()
        echo(f"bare model {bench.models['bare']}, candidate model {bench.models['candidate']}")
        runs: list[list[ScenarioResult]] = []
        for n in range(max(1, config.repeat)):
            prefix = f"run {n + 1}: " if config.repeat > 1 else ""
            done = lambda r, p=prefix: echo(f"  {p}done {r.name}")  # noqa: E731
            runs.append(asyncio.run(bench.run(progress=done)))
            echo(format_table(runs[-1], config))
    medians = median_rows(runs) if len(runs) > 1 else None
    if medians:
        echo(format_medians(medians))
    if json_out:
        payload: dict[str, Any] = {
            "config": {**asdict(config), "function": str(config.function)},
            "rows": [r.row() for r in runs[-1]],
        }
        if medians:
            payload["runs"] = [[r.row() for r in results] for results in runs]
            payload["medians"] = medians
        json_out.write_text(json.dumps(payload, indent=2))
    return runs[-1]


def parse_valves(pairs: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs; values that parse as JSON (numbers, true/false) are typed."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BenchError(f"--valve needs KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def cli_main(
    function: str | None,
    deltas: int,
    rounds: int,
    concurrency: int,
    tps: float,
    candidate_model: str | None,
    valves: list[str],
    scenarios: str,
    json_out: str | None,
    repeat: int = 1,
) -> int:
    """The body of `orsim bench openwebui`; returns the exit code. Without `--function` the
    candidate is the production pipe, exported now (`orsim export-function`)."""
    import tempfile

    try:
        with tempfile.TemporaryDirectory(prefix="orsim-bench-") as tmp:
            if function is None:
                function = str(export_candidate(Path(tmp)))
                candidate_model = candidate_model or EXPORTED_DEFAULT_MODEL
            return _cli_run(
                function,
                deltas,
                rounds,
                concurrency,
                tps,
                candidate_model,
                valves,
                scenarios,
                json_out,
                repeat,
            )
    except BenchError as exc:
        print(f"bench openwebui: {exc}")
        return 2


def export_candidate(directory: Path) -> Path:
    from simulator.export import ExportError, export_function

    try:
        return export_function(directory / "openrouter_responses_pipe.py")
    except ExportError as exc:
        raise BenchError(f"could not export the production pipe: {exc}") from exc


def _cli_run(
    function, deltas, rounds, concurrency, tps, candidate_model, valves, scenarios, json_out, repeat
) -> int:
    if repeat < 1:
        raise BenchError(f"--repeat must be at least 1, got {repeat}")
    config = BenchConfig(
        function=Path(function),
        deltas=deltas,
        rounds=rounds,
        concurrency=concurrency,
        paced_tps=tps,
        candidate_model=candidate_model,
        candidate_valves=parse_valves(valves),
        scenarios=tuple(s.strip() for s in scenarios.split(",") if s.strip()),
        repeat=repeat,
    )
    unknown = [s for s in config.scenarios if s not in BenchConfig.scenarios]
    if unknown:
        raise BenchError(
            f"unknown scenario(s) {unknown}; choose from {list(BenchConfig.scenarios)}"
        )
    run(config, json_out=Path(json_out) if json_out else None)
    return 0
