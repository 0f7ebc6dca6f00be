"""`orsim bench store`, write-behind section: direct writes against write-behind with K workers.

K worker processes (simulator/bench/storeworker.py: each its own `Pipe`, saving turns through
the vault its turn recorder uses) start together on a signal and each save `turns` turns of
three artifacts, on a real database (SQLite file; PostgreSQL with production durability:
fsync and synchronous commit on) and, for write-behind, a real redis-server. Both modes run
in the same invocation on fresh databases, so the ratios compare like with like.

- accepted/s: artifacts handed back to the chats per second (the start signal to the last
  `save_turn` return): what the end of a chat waits for;
- turn wait p50/p99: one `save_turn` call;
- stored/s: artifacts per second until every row is committed;
- in DB after p50/p99: from handing the turn to `save_turn` until its rows are committed. On
  PostgreSQL read from the rows' own commit timestamps (`track_commit_timestamp`); on SQLite
  (no such record) the flushers' own measure (queued until committed and acknowledged) for
  write-behind and the turn wait for direct writes (they commit before returning).

Every case ends by checking that every promised artifact is in the database exactly once.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pipe.storage.schema import ARTIFACT_TABLE
from simulator.bench.storeworker import WorkerArgs, serve
from simulator.services.postgres import PostgresServer
from simulator.services.redis_server import RedisServer

ROWS_PER_TURN = 3
STORED_TIMEOUT_SECONDS = 300.0
# Production durability, and commit times on every row (the flush lag's end point).
PG_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
               "track_commit_timestamp": "on"}  # fmt: skip
MODES = ("direct", "write-behind")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Rows:
    """The bench's own view of the artifact table (not through the pipe): one connection
    in autocommit, so polling costs the database no new backend per look."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Any = None

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        if self._conn is None:
            if self.url.startswith("sqlite"):
                path = self.url.split(":///", 1)[1]
                self._conn = sqlite3.connect(path, isolation_level=None)
            else:
                import psycopg

                self._conn = psycopg.connect(self.url, autocommit=True)
        return list(self._conn.execute(sql))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def count(self) -> int:
        return int(self._query(f"SELECT count(*) FROM {ARTIFACT_TABLE}")[0][0])

    def ids(self) -> list[str]:
        return [str(r[0]) for r in self._query(f"SELECT id FROM {ARTIFACT_TABLE}")]

    def commit_times(self) -> dict[str, float]:
        """PostgreSQL only: each row's commit time (epoch seconds)."""
        sql = f"SELECT id, extract(epoch from pg_xact_commit_timestamp(xmin)) FROM {ARTIFACT_TABLE}"
        return {str(i): float(t) for i, t in self._query(sql)}


class _Worker:
    """One forked worker process (simulator/bench/storeworker.py) and its end of the pipe."""

    def __init__(self, args: WorkerArgs) -> None:
        context = multiprocessing.get_context("fork")
        self.conn, child = context.Pipe()
        self.proc = context.Process(target=serve, args=(child, args), daemon=True)
        self.proc.start()
        child.close()

    def send(self, message: dict[str, Any]) -> None:
        self.conn.send(message)

    def receive(self) -> dict[str, Any]:
        try:
            return dict(self.conn.recv())
        except EOFError:
            self.proc.join(30)
            raise RuntimeError(f"bench worker exited with {self.proc.exitcode}") from None

    def close(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(30)
        self.conn.close()


def _wait_stored(rows: _Rows, expected: int) -> float:
    """Poll until `expected` rows are committed; the wall time that was first seen."""
    deadline = time.monotonic() + STORED_TIMEOUT_SECONDS
    while rows.count() < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {rows.count()} of {expected} rows stored in time")
        time.sleep(0.01)
    return time.time()


def run_case(
    db_url: str, redis_url: str, workers: int, turns: int, rate: float = 0.0
) -> dict[str, Any]:
    """One (database, mode, K) case on a fresh database; figures as the module says."""
    rows = _Rows(db_url)
    procs = [_Worker(WorkerArgs(db_url, redis_url, turns, f"u{i}", rate)) for i in range(workers)]
    try:
        warm = [i for p in procs for i in p.receive()["ready"]]
        _wait_stored(rows, len(warm))
        go = time.time() + 0.2
        for p in procs:
            p.send({"go": go})
        written = [p.receive() for p in procs]
        promised = sum(len(t[2]) for w in written for t in w["turns"])
        stored_at = _wait_stored(rows, len(warm) + promised)
        for p in procs:
            p.send({"stop": True})
        flusher_lags = [lag for p in procs for lag in p.receive()["lags"]]
        for p in procs:
            p.proc.join(60)
        return _figures(rows, redis_url, workers, go, warm, written, flusher_lags, stored_at)
    finally:
        for p in procs:
            p.close()
        rows.close()


def _figures(
    rows: _Rows,
    redis_url: str,
    workers: int,
    go: float,
    warm: list[str],
    written: list[dict[str, Any]],
    flusher_lags: list[float],
    stored_at: float,
) -> dict[str, Any]:
    turn_log = [t for w in written for t in w["turns"]]
    promised = [i for t in turn_log for i in t[2]]
    in_db = rows.ids()
    if sorted(in_db) != sorted(warm + promised):
        raise RuntimeError(
            f"{len(in_db)} rows stored for {len(warm) + len(promised)} promised "
            f"({len(set(warm + promised) - set(in_db))} missing)"
        )
    waits = [t[1] - t[0] for t in turn_log]
    if rows.url.startswith("postgresql"):
        committed = rows.commit_times()
        lags = [committed[t[2][0]] - t[0] for t in turn_log]
        stored_at = max(committed[i] for i in promised)
        lag_source = "commit timestamps"
    else:
        lags = flusher_lags if redis_url else waits
        lag_source = "flushers" if redis_url else "turn wait"
    artifacts = len(promised)
    return {
        "workers": workers,
        "artifacts": artifacts,
        "failed_turns": sum(w["failed"] for w in written),
        "accepted_per_s": artifacts / (max(t[1] for t in turn_log) - go),
        "stored_per_s": artifacts / (stored_at - go),
        "turn_wait_p50_ms": _pct(waits, 0.5) * 1000,
        "turn_wait_p99_ms": _pct(waits, 0.99) * 1000,
        "in_db_p50_s": _pct(lags, 0.5),
        "in_db_p99_s": _pct(lags, 0.99),
        "in_db_source": lag_source,
        "flusher_lag_p50_s": _pct(flusher_lags, 0.5),
        "flusher_lag_p99_s": _pct(flusher_lags, 0.99),
    }


@contextlib.contextmanager
def _fresh_databases(root: Path, names: list[str]) -> Iterator[Callable[[str], str]]:
    """`fresh(name)`: the URL of a new empty database of that kind, one per case."""
    server = PostgresServer(PG_SETTINGS).start() if "postgresql" in names else None
    files = itertools.count()

    def fresh(name: str) -> str:
        if name == "sqlite":
            return f"sqlite:///{root / f'wb-{next(files)}.db'}"
        assert server is not None
        return server.create_database()

    try:
        yield fresh
    finally:
        if server is not None:
            server.stop()


def run(
    turns: int, worker_counts: list[int], databases: list[str], rate: float = 0.0
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="orsim-bench-wb-") as tmp:
        root = Path(tmp)
        redis = RedisServer(root).start()
        try:
            with _fresh_databases(root, databases) as fresh:
                for database in databases:
                    for workers in worker_counts:
                        for mode in MODES:
                            redis_url = redis.url if mode == "write-behind" else ""
                            case = run_case(fresh(database), redis_url, workers, turns, rate)
                            results.append(
                                {"database": database, "mode": mode, "rate": rate, **case}
                            )
        finally:
            redis.stop()
    return results


def report(results: list[dict[str, Any]], turns: int, rate: float = 0.0) -> list[str]:
    pace = f"{rate:g} turns/s per worker" if rate else "back to back"
    lines = [
        f"write-behind vs direct writes: K worker processes x {turns} turns x "
        f"{ROWS_PER_TURN} artifacts, {pace} (PostgreSQL: fsync and synchronous commit on)",
        f"{'database':<11} {'mode':<13} {'K':>2} {'accepted/s':>11} {'turn wait p50/p99':>18} "
        f"{'stored/s':>9} {'in DB after p50/p99':>20}  failed",
    ]
    for r in results:
        lines.append(
            f"{r['database']:<11} {r['mode']:<13} {r['workers']:>2} {r['accepted_per_s']:>11.0f} "
            f"{r['turn_wait_p50_ms']:>7.1f}/{r['turn_wait_p99_ms']:>6.1f} ms "
            f"{r['stored_per_s']:>9.0f} {r['in_db_p50_s']:>8.3f}/{r['in_db_p99_s']:>6.3f} s "
            f"  {r['failed_turns']}"
        )
    direct = {(r["database"], r["workers"]): r for r in results if r["mode"] == "direct"}
    for r in results:
        base = direct.get((r["database"], r["workers"]))
        if r["mode"] != "write-behind" or base is None:
            continue
        lines.append(
            f"{r['database']} K={r['workers']}: write-behind accepts "
            f"{r['accepted_per_s'] / base['accepted_per_s']:.1f}x direct's rate, a turn waits "
            f"{r['turn_wait_p50_ms'] / base['turn_wait_p50_ms']:.2f}x as long (p50), rows "
            f"are stored at {r['stored_per_s'] / base['stored_per_s']:.2f}x direct's rate"
        )
    lines.append(
        "(in DB after: handed to save_turn until committed; PostgreSQL from commit timestamps)"
    )
    return lines
