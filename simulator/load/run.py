"""`orsim load --profile NAME`: start the fake OpenRouter and `orsim serve-host --workers K`
with the exported pipe, run locust headless (as a subprocess: locust is gevent, the servers
asyncio) with the profile's shape, print progress, then write the CSVs, locust's HTML report,
PNG plots and summary.json, and exit 1 when a threshold fails (2 when the run itself broke).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from simulator.load import plots, results, stack
from simulator.load.profiles import PROFILES, Profile
from simulator.owui_live.process import process_tree_cpu_seconds, stop

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
PROGRESS_EVERY = 5.0


@dataclasses.dataclass
class LoadOptions:
    profile: str
    users: int | None = None
    duration: float | None = None
    workers: int | None = None
    out: Path | None = None
    function: Path | None = None
    target: str | None = None  # an Open WebUI to load instead of the fake stack
    model: str | None = None
    locust_workers: int = 0  # > 0: locust distributed mode, one master and N local workers


def locust_command(p: Profile, opts: LoadOptions, url: str, prefix: Path) -> list[str]:
    files = str(LOADTESTS / "chat.py")
    if p.shape:
        files += "," + str(LOADTESTS / f"shape_{p.shape}.py")
    cmd = [sys.executable, "-m", "locust", "-f", files, "--headless", "--host", url]
    cmd += ["--csv", str(prefix), "--csv-full-history", "--html", f"{prefix}_report.html"]
    cmd += ["--loglevel", "WARNING", "--only-summary"]
    cmd += chat_args(p, opts)
    if not p.shape:
        cmd += ["-u", str(p.users), "-r", str(p.spawn_rate), "-t", f"{p.duration:g}s"]
        if p.reset_stats:
            cmd.append("--reset-stats")
    if opts.locust_workers:
        cmd += ["--master", "--expect-workers", str(opts.locust_workers)]
    return cmd


def chat_args(p: Profile, opts: LoadOptions) -> list[str]:
    args = [
        "--chat-model",
        _model(opts),
        "--chat-tokens",
        str(p.tokens),
        "--chat-long-share",
        str(p.long_share),
        "--chat-long-tokens",
        str(p.long_tokens),
        "--chat-upstream",
        p.upstream,
        "--chat-wait",
        str(p.wait),
    ]
    for key, value in p.shape_args.items():
        args += [f"--{key}", str(value)]
    return args


def _model(opts: LoadOptions) -> str:
    return opts.model or f"{stack.FUNCTION_ID}.openai.gpt-4o-mini"


def _worker_command(p: Profile, opts: LoadOptions) -> list[str]:
    files = str(LOADTESTS / "chat.py")
    if p.shape:
        files += "," + str(LOADTESTS / f"shape_{p.shape}.py")
    return [sys.executable, "-m", "locust", "-f", files, "--worker", "--loglevel", "WARNING"]


def run_load(opts: LoadOptions, echo: Callable[[str], None] = print) -> int:
    echo = _flushing(echo)
    profile = PROFILES[opts.profile].with_users(opts.users)
    if opts.duration:
        profile = dataclasses.replace(profile, duration=opts.duration)
    if opts.workers:
        profile = dataclasses.replace(profile, workers=opts.workers)
    out = opts.out or Path("load-results") / f"{profile.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    prefix = out / "locust"
    echo(f"orsim load: profile {profile.name}: {profile.about}")
    servers: list[stack.Server] = []
    try:
        if opts.target:
            url, host_pid = opts.target.rstrip("/"), None
        else:
            function = opts.function or _export(out)
            openrouter = stack.start_openrouter(out)
            servers.append(openrouter)
            host = stack.start_host(out, function, openrouter.url, profile.workers, profile.valves)
            servers.append(host)
            url, host_pid = host.url, host.proc.pid
            stack.warm_up(url, _model(opts), profile.workers)
            echo(f"fake OpenRouter {openrouter.url}; host {url} with {profile.workers} workers")
        cpu_pids = {"openrouter": servers[0].proc.pid, "host": host_pid} if servers else {}
        rss, cpu, loads = _drive(profile, opts, url, prefix, host_pid, cpu_pids, echo, out)
    except stack.StackError as exc:
        echo(f"error: {exc}")
        return 2
    finally:
        for server in reversed(servers):
            server.close()
    return _report(profile, prefix, out, rss, cpu, loads, echo)


def _flushing(echo: Callable[[str], None]) -> Callable[[str], None]:
    def say(line: str) -> None:
        echo(line)
        sys.stdout.flush()

    return say


def _export(out: Path) -> Path:
    from simulator.export import export_function

    return export_function(out / "openrouter_responses_pipe.py")


def _drive(
    p: Profile,
    opts: LoadOptions,
    url: str,
    prefix: Path,
    host_pid: int | None,
    cpu_pids: dict[str, int | None],
    echo: Callable[[str], None],
    out: Path,
) -> tuple[dict[int, list[tuple[float, float]]], dict[str, float], list[float]]:
    """Run locust to its end, printing progress and sampling worker RSS; returns the RSS
    samples, the CPU seconds each part used (is the load generator the bottleneck?) and the
    machine's 1-minute load average at each progress tick (was anything else running?)."""
    log = open(out / "locust.log", "wb")
    procs = [subprocess.Popen(locust_command(p, opts, url, prefix), stdout=log, stderr=log)]
    procs += [
        subprocess.Popen(_worker_command(p, opts), stdout=log, stderr=log)
        for _ in range(opts.locust_workers)
    ]
    log.close()
    cpu_pids = {**cpu_pids, "locust": procs[0].pid}
    all_pids = {k: [p] for k, p in cpu_pids.items() if p}
    all_pids["locust"] += [p.pid for p in procs[1:]]
    cpu_start = _cpu(all_pids)
    cpu_now = dict(cpu_start)
    started = time.monotonic()
    pids = stack.worker_pids(host_pid) if host_pid else []
    rss: dict[int, list[tuple[float, float]]] = {pid: [] for pid in pids}
    loads = [os.getloadavg()[0]]
    limit = p.duration + 120  # locust stops itself; this only guards against a hang
    try:
        while procs[0].poll() is None:
            time.sleep(PROGRESS_EVERY)
            elapsed = time.monotonic() - started
            cpu_now = _cpu(all_pids)  # sampled while alive: a finished process has no /proc
            loads.append(os.getloadavg()[0])
            for pid in pids:
                mb = stack.rss_mb(pid)
                if mb is not None:
                    rss[pid].append((elapsed, mb))
            line = results.progress_line(prefix, elapsed)
            if line:
                echo(line)
            if elapsed > limit:
                echo("locust did not stop in time; stopping it")
                break
    finally:
        wall = max(1e-9, time.monotonic() - started)
        cpu = {k: (cpu_now[k] - v) / wall for k, v in cpu_start.items()}
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                stop(proc, grace=1)
    return rss, cpu, loads


def _cpu(pids: dict[str, list[int]]) -> dict[str, float]:
    return {k: sum(process_tree_cpu_seconds(p) for p in ps) for k, ps in pids.items()}


def _report(
    p: Profile,
    prefix: Path,
    out: Path,
    rss: dict[int, list[tuple[float, float]]],
    cpu: dict[str, float],
    loads: list[float],
    echo: Callable[[str], None],
) -> int:
    if not Path(f"{prefix}_stats.csv").exists():
        echo(f"error: locust wrote no statistics; see {out / 'locust.log'}")
        return 2
    s = results.summarise(prefix)
    for pid, samples in rss.items():
        warm = [m for t, m in samples if t >= p.duration / 5]
        if len(warm) >= 2:
            s.rss_growth_mb[pid] = warm[-1] - warm[0]
    written = plots.write_plots(prefix, out, rss)
    bad = results.judge(s, p.thresholds)
    levels = plots.level_table(prefix) if p.shape == "ramp" else []
    summary = {
        "profile": p.name,
        "users": p.users,
        "workers": p.workers,
        **dataclasses.asdict(s),
        "levels": levels,
        "cpu_cores": cpu,
        "load_average": [min(loads), max(loads)],  # the machine's, 1-minute, over the run
        "threshold_failures": bad,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    echo(
        f"chats {s.chats}  failed {s.failed} {s.failures or ''}  busy {s.busy}  "
        f"cross-talk {s.crosstalk}"
    )
    echo(
        f"TTFT p50/p99 {s.ttft[0]}/{s.ttft[1]} ms   delivery lag p50/p99 {s.lag[0]}/{s.lag[1]} "
        f"ms   tokens/s per stream p50 {s.tps_p50}"
    )
    if p.thresholds.busy_first_wave:
        echo(
            f"first wave: {s.first_busy} busy, {s.first_admitted} admitted; busy p99 {s.busy_p99} ms"
        )
    echo("CPU (cores, mean over the run): " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    echo(f"machine load average (1 min) during the run: {min(loads):.1f} - {max(loads):.1f}")
    if s.rss_growth_mb:
        echo(
            "RSS growth after warm-up: "
            + ", ".join(f"{g:+.1f} MB" for g in s.rss_growth_mb.values())
        )
    for users, lag, ttft in levels:
        echo(f"  level {users:>4} users: lag p99 {lag} ms, TTFT p99 {ttft} ms")
    echo(
        f"wrote {out}: locust CSVs, {prefix.name}_report.html, summary.json, "
        + ", ".join(x.name for x in written)
    )
    for line in bad:
        echo(f"FAILED: {line}")
    echo("PASSED" if not bad else "FAILED")
    return 1 if bad else 0


def cli_main(opts: LoadOptions) -> int:
    if opts.profile not in PROFILES:
        print(f"unknown profile {opts.profile!r}; profiles: {', '.join(PROFILES)}", file=sys.stderr)
        return 2
    return run_load(opts)


def profile_help() -> str:
    return "; ".join(f"{name}: {p.about}" for name, p in PROFILES.items())
