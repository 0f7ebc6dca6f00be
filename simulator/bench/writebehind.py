"""`orsim bench writebehind`: the artifact store's write-behind against direct writes.

K worker processes (`simulator.services.wbworker`, the pipe's own store code) each write
`turns` turns of `rows` sealed-size rows as fast as they can, on a real PostgreSQL and (for
write-behind) a real redis-server, both started here in temp dirs. Reported per mode and K:

- accepted/s: artifacts per second handed back to the chat (what a turn waits for);
- stored/s: artifacts per second until every row is in the database (flush included, process
  start-up excluded);
- flush lag p50/p99: seconds from queueing a turn to its commit (write-behind only).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from simulator.services.postgres import PostgresServer
from simulator.services.redis_server import RedisServer


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def run_case(
    root: Path, redis_url: str, db_url: str, workers: int, turns: int, rows: int, direct: bool
) -> dict[str, float]:
    procs = []
    case_dir = Path(tempfile.mkdtemp(dir=root))
    for i in range(workers):
        lags = case_dir / f"lags-{i}.txt"
        args = [
            sys.executable, "-m", "simulator.services.wbworker",
            "--redis", redis_url, "--database-url", db_url,
            "--turns", str(turns), "--rows", str(rows), "--user", f"u{i}",
            "--lags-file", str(lags), "--confirm-seconds", "0.2",
        ]  # fmt: skip
        if direct:
            args.append("--direct")
        procs.append((subprocess.Popen(args, stdout=subprocess.PIPE, text=True), lags))
    stats = []
    for proc, _ in procs:
        out, _ = proc.communicate(timeout=600)
        stats.append(json.loads(out.strip().splitlines()[-1]))
    artifacts = workers * turns * rows
    lags = [float(x) for _, path in procs if path.exists() for x in path.read_text().split() if x]
    return {
        "workers": workers,
        "accepted_per_s": artifacts / max(s["write_seconds"] for s in stats),
        # until the last worker's rows were all committed (process start-up excluded)
        "stored_per_s": artifacts / max(s["total_seconds"] for s in stats),
        "lag_p50": _percentile(lags, 0.5),
        "lag_p99": _percentile(lags, 0.99),
        "direct_writes": sum(s.get("direct", 0) for s in stats),
    }


def cli_main(turns: int, rows: int, worker_counts: list[int], json_out: str | None) -> int:
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="orsim-bench-wb-") as tmp, PostgresServer() as pg:
        root = Path(tmp)
        redis = RedisServer(root).start()
        try:
            for workers in worker_counts:
                for mode in ("direct", "write-behind"):
                    db_url = pg.create_database()
                    case = run_case(
                        root, redis.url, db_url, workers, turns, rows, direct=mode == "direct"
                    )
                    results.append({"mode": mode, **case})
        finally:
            redis.stop()
    print(f"{'mode':<13} {'K':>2} {'accepted/s':>11} {'stored/s':>9} {'lag p50':>8} {'lag p99':>8}")
    for r in results:
        print(
            f"{r['mode']:<13} {r['workers']:>2} {r['accepted_per_s']:>11.0f} "
            f"{r['stored_per_s']:>9.0f} {r['lag_p50']:>7.3f}s {r['lag_p99']:>7.3f}s"
        )
    direct = {r["workers"]: r for r in results if r["mode"] == "direct"}
    for r in results:
        if r["mode"] == "write-behind":
            base = direct[r["workers"]]
            ratio = float(r["accepted_per_s"]) / float(base["accepted_per_s"])  # type: ignore[arg-type]
            print(f"K={r['workers']}: write-behind accepts {ratio:.1f}x direct's rate")
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=2))
    return 0
