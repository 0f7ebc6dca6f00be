"""One worker process of the artifact store's write-behind, for chaos tests and benchmarks.

    python -m simulator.services.wbworker --redis URL --database-url URL --turns 200 \\
        --ids-file ids.txt [--rows 3] [--claim-seconds 1] [--interval 0.01] [--linger]

Writes `--turns` turns of `--rows` sealed-looking rows through the pipe's own
`WriteBehindStore` (or, with `--direct`, straight to the database), appending each turn's ids
to `--ids-file` (fsynced) once `commit_turn` returned: that file is what the worker promised
to keep. Then it keeps flushing (other workers' turns too) until SIGTERM, which drains and
exits 0; without `--linger` it drains and exits once its own turns are written. Prints one
JSON line of counters at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import time
from pathlib import Path

from pipe.redislink import RedisLink
from pipe.storage.codec import ArtifactRow, new_artifact_id
from pipe.storage.database import Database, choose_target
from pipe.storage.store import ArtifactStore
from pipe.storage.writebehind import WriteBehindPolicy, WriteBehindStore


def make_row(user: str, chat: str) -> ArtifactRow:
    now = int(time.time())
    return ArtifactRow(
        id=new_artifact_id(),
        user_id=user,
        chat_id=chat,
        message_id="m",
        model_id="openai/o4-mini",
        item_type="reasoning",
        key_id="bench",
        codec=2,
        payload=secrets.token_bytes(600),
        created_at=now,
        last_used=now,
    )


async def run(args: argparse.Namespace) -> dict[str, float]:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    database = Database(choose_target(args.database_url))
    await database.ready()
    policy = WriteBehindPolicy(
        batch_size=args.batch_size,
        claim_seconds=args.claim_seconds,
        block_seconds=min(1.0, args.claim_seconds / 2),
        confirm_seconds=args.confirm_seconds,
    )
    store: ArtifactStore
    if args.direct or not args.redis:
        store = ArtifactStore(database)
    else:
        store = WriteBehindStore(database, RedisLink(args.redis), policy)
    if args.ready_file:
        Path(args.ready_file).touch()  # noqa: ASYNC240  (flusher running, SIGTERM drains)
    ids_file = open(args.ids_file, "a") if args.ids_file else None  # noqa: ASYNC230
    started = time.perf_counter()
    written = failed = 0
    for _ in range(args.turns):
        if stop.is_set():
            break
        rows = [make_row(args.user, f"chat-{os.getpid()}") for _ in range(args.rows)]
        try:
            await store.commit_turn(rows, user_id=args.user, now=int(time.time()))
        except Exception as exc:  # the database refused a direct write: reported, not promised
            failed += 1
            print(json.dumps({"error": type(exc).__name__}), flush=True)
        else:
            written += 1
            if ids_file is not None:
                ids_file.write("".join(r.id + "\n" for r in rows))
                ids_file.flush()
                os.fsync(ids_file.fileno())
        if args.interval:
            await asyncio.sleep(args.interval)
    write_seconds = time.perf_counter() - started
    if isinstance(store, WriteBehindStore):
        if args.linger:
            await stop.wait()
        else:
            while store.unconfirmed and not stop.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await store.aclose(drain_seconds=args.drain_seconds)
        await store.link.aclose()
    total_seconds = time.perf_counter() - started
    await database.dispose()
    stats: dict[str, float] = {
        "written": written,
        "failed": failed,
        "write_seconds": write_seconds,
        "total_seconds": total_seconds,
    }
    if isinstance(store, WriteBehindStore):
        lags = sorted(store.flusher.lags)
        if args.lags_file:
            Path(args.lags_file).write_text("".join(f"{x}\n" for x in lags))  # noqa: ASYNC240
        stats.update(
            flushed=store.flusher.flushed_turns,
            direct=store.direct_writes,
            lag_p50=lags[len(lags) // 2] if lags else 0.0,
            lag_p99=lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else 0.0,
        )
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--rows", type=int, default=3)
    parser.add_argument("--user", default="u1")
    parser.add_argument("--ids-file", default="")
    parser.add_argument("--interval", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--claim-seconds", type=float, default=30.0)
    parser.add_argument("--confirm-seconds", type=float, default=2.0)
    parser.add_argument("--drain-seconds", type=float, default=10.0)
    parser.add_argument("--direct", action="store_true")
    parser.add_argument("--linger", action="store_true")
    parser.add_argument("--ready-file", default="")
    parser.add_argument("--lags-file", default="", help="write every flush lag (s) here")
    args = parser.parse_args()
    stats = asyncio.run(run(args))
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
