"""Read locust's CSV output into the figures a load run is judged by, and judge them."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from simulator.load.profiles import Thresholds

_CAUGHT = re.compile(r"CatchResponseError\(['\"](.*)['\"]\)")  # how locust records failure()
ROWS = {
    "chat": ("POST", "chat"),
    "busy_chat": ("POST", "chat (busy)"),
    "ttft": ("TTFT", "first token"),
    "lag": ("LAG", "token delivery"),
    "tps": ("TPS", "tokens/s per stream"),
    "busy": ("BUSY", "busy answer"),
    "first_busy": ("FIRST", "busy"),
    "first_admitted": ("FIRST", "admitted"),
}


def read_rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    try:
        with open(path, newline="") as f:
            return {(r["Type"], r["Name"]): r for r in csv.DictReader(f)}
    except FileNotFoundError:
        return {}


def _num(row: dict[str, str] | None, column: str) -> float | None:
    if not row:
        return None
    try:
        return float(row[column])
    except (KeyError, ValueError):
        return None


@dataclass
class Summary:
    chats: int = 0  # answered chats, busy answers included
    failed: int = 0
    busy: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # kind -> count
    ttft: tuple[float | None, float | None] = (None, None)  # p50, p99 ms
    lag: tuple[float | None, float | None] = (None, None)
    tps_p50: float | None = None
    busy_p99: float | None = None
    first_busy: int = 0
    first_admitted: int = 0
    rss_growth_mb: dict[int, float] = field(default_factory=dict)

    @property
    def crosstalk(self) -> int:
        return self.failures.get("crosstalk", 0)


def summarise(prefix: Path) -> Summary:
    rows = read_rows(Path(f"{prefix}_stats.csv"))

    def get(key: str) -> dict[str, str] | None:
        return rows.get(ROWS[key])

    def count(key: str, column: str = "Request Count") -> int:
        return int(_num(get(key), column) or 0)

    def pct(key: str) -> tuple[float | None, float | None]:
        return _num(get(key), "50%"), _num(get(key), "99%")

    s = Summary(
        chats=count("chat") + count("busy_chat"),
        failed=count("chat", "Failure Count"),
        busy=count("busy_chat"),
        ttft=pct("ttft"),
        lag=pct("lag"),
        tps_p50=_num(get("tps"), "50%"),
        busy_p99=_num(get("busy"), "99%"),
        first_busy=count("first_busy"),
        first_admitted=count("first_admitted"),
    )
    try:
        with open(f"{prefix}_failures.csv", newline="") as f:
            for r in csv.DictReader(f):
                if r.get("Name") == "chat":
                    m = _CAUGHT.fullmatch(r["Error"])
                    kind = m.group(1) if m else r["Error"]
                    s.failures[kind] = s.failures.get(kind, 0) + int(r["Occurrences"])
    except FileNotFoundError:
        pass
    return s


def judge(s: Summary, t: Thresholds) -> list[str]:
    """The thresholds the summary misses, one sentence each (empty: passed)."""
    bad = []
    if s.crosstalk:
        bad.append(f"{s.crosstalk} chats got another chat's answer (cross-talk)")
    if s.chats < t.min_chats:
        bad.append(f"only {s.chats} chats answered (at least {t.min_chats} expected)")
    share = s.failed / s.chats if s.chats else 0.0
    if share > t.max_failure_share:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.failures.items()))
        bad.append(f"{s.failed} of {s.chats} chats failed ({kinds})")
    if t.lag_p99_ms is not None and (s.lag[1] is None or s.lag[1] > t.lag_p99_ms):
        bad.append(f"delivery lag p99 {s.lag[1]} ms > {t.lag_p99_ms:g} ms")
    if t.ttft_p99_ms is not None and (s.ttft[1] is None or s.ttft[1] > t.ttft_p99_ms):
        bad.append(f"TTFT p99 {s.ttft[1]} ms > {t.ttft_p99_ms:g} ms")
    if t.busy_first_wave is not None:
        low, high = t.busy_first_wave
        if not low <= s.first_busy <= high:
            bad.append(f"{s.first_busy} first chats got 'busy' (expected {low}-{high})")
    if t.first_wave is not None and s.first_busy + s.first_admitted < t.first_wave:
        missing = t.first_wave - s.first_busy - s.first_admitted
        bad.append(f"{missing} first chats never finished (hang)")
    if t.busy_p99_ms is not None and (s.busy_p99 is None or s.busy_p99 > t.busy_p99_ms):
        bad.append(f"busy answer p99 {s.busy_p99} ms > {t.busy_p99_ms:g} ms (not immediate)")
    if t.rss_growth_mb is not None:
        for pid, growth in sorted(s.rss_growth_mb.items()):
            if growth > t.rss_growth_mb:
                bad.append(f"worker {pid} RSS grew {growth:.1f} MB > {t.rss_growth_mb:g} MB")
    return bad


def progress_line(prefix: Path, elapsed: float) -> str | None:
    """One line from locust's latest stats: users, chats, failures, busy, TTFT and lag."""
    rows = read_rows(Path(f"{prefix}_stats.csv"))
    if not rows:
        return None
    users = _last_users(Path(f"{prefix}_stats_history.csv"))
    s = summarise(prefix)

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    return (
        f"{elapsed:6.0f}s users {users:>4} chats {s.chats:>6} failed {s.failed:>4} "
        f"busy {s.busy:>4}  ttft p50/p99 {ms(s.ttft[0])}/{ms(s.ttft[1])} ms  "
        f"lag p50/p99 {ms(s.lag[0])}/{ms(s.lag[1])} ms"
    )


def _last_users(path: Path) -> str:
    try:
        with open(path, newline="") as f:
            last = None
            for last in csv.DictReader(f):  # noqa: B007 - we want the final row
                pass
    except FileNotFoundError:
        return "-"
    return last["User Count"] if last else "-"
