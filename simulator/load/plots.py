"""PNG plots of a load run from locust's stats history (10-second sliding percentiles) and the
worker RSS samples: TTFT and delivery lag p50/p99, users and chats/s, busy share, RSS."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path


def _history(path: Path) -> dict[tuple[str, str], list[dict[str, str]]]:
    rows: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    try:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                rows[(r["Type"], r["Name"])].append(r)
    except FileNotFoundError:
        pass
    return rows


def _f(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None  # "N/A" before the first sample


def _series(rows: list[dict[str, str]], column: str, t0: float) -> tuple[list[float], list]:
    return [float(r["Timestamp"]) - t0 for r in rows], [_f(r[column]) for r in rows]


def level_table(prefix: Path) -> list[tuple[int, float | None, float | None]]:
    """Per user level of a ramp: median over the level's samples of (lag p99, TTFT p99)."""
    hist = _history(Path(f"{prefix}_stats_history.csv"))
    by_level: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for key, column in ((("LAG", "token delivery"), "lag"), (("TTFT", "first token"), "ttft")):
        for r in hist.get(key, []):
            v = _f(r["99%"])
            if v is not None:
                by_level[int(r["User Count"])][column].append(v)

    def med(xs: list[float]) -> float | None:
        return sorted(xs)[len(xs) // 2] if xs else None

    return [(u, med(d["lag"]), med(d["ttft"])) for u, d in sorted(by_level.items()) if u]


def write_plots(
    prefix: Path, out_dir: Path, rss: dict[int, list[tuple[float, float]]] | None = None
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = _history(Path(f"{prefix}_stats_history.csv"))
    total = hist.get(("", "Aggregated"), [])
    if not total:
        return []
    t0 = float(total[0]["Timestamp"])
    written = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)

    t_users, users = _series(total, "User Count", t0)
    for key, title, name in (
        (("TTFT", "first token"), "Time to first token", "ttft.png"),
        (("LAG", "token delivery"), "Per-token delivery lag", "lag.png"),
    ):
        fig, ax = plt.subplots(figsize=(8, 4))
        for column in ("50%", "99%"):
            ax.plot(*_series(hist.get(key, []), column, t0), label=f"p{column[:-1]}")
        ax.set(title=f"{title} (10 s window)", xlabel="seconds", ylabel="ms")
        ax.legend(loc="upper left")
        twin = ax.twinx()
        twin.plot(t_users, users, color="grey", linestyle=":", label="users")
        twin.set_ylabel("users")
        save(fig, name)

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(t_users, users, label="users")
    ax.set(title="Users and chats per second", xlabel="seconds", ylabel="users")
    twin = ax.twinx()
    t_chat, chat_rps = _series(hist.get(("POST", "chat"), []), "Requests/s", t0)
    twin.plot(t_chat, chat_rps, color="tab:orange", label="chats/s")
    twin.set_ylabel("chats/s")
    save(fig, "users.png")

    fig, ax = plt.subplots(figsize=(8, 4))
    busy = {
        r["Timestamp"]: _f(r["Requests/s"]) or 0.0 for r in hist.get(("POST", "chat (busy)"), [])
    }
    times, shares = [], []
    for r in hist.get(("POST", "chat"), []):
        done = (_f(r["Requests/s"]) or 0.0) + busy.get(r["Timestamp"], 0.0)
        times.append(float(r["Timestamp"]) - t0)
        shares.append(100.0 * busy.get(r["Timestamp"], 0.0) / done if done else 0.0)
    ax.plot(times, shares)
    ax.set(title="Share of chats answered 'Server busy'", xlabel="seconds", ylabel="%")
    save(fig, "busy.png")

    if rss:
        fig, ax = plt.subplots(figsize=(8, 4))
        for pid, samples in sorted(rss.items()):
            ax.plot([t for t, _ in samples], [m for _, m in samples], label=f"worker {pid}")
        ax.set(title="Host worker RSS", xlabel="seconds", ylabel="MB")
        ax.legend(loc="upper left")
        save(fig, "rss.png")
    return written
