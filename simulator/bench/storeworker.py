"""One worker process of `orsim bench store`'s write-behind section.

    multiprocessing.get_context("fork").Process(target=serve, args=(conn, WorkerArgs(...)))

A process of its own, like one Open WebUI worker (forked from the bench once `pipe` is
imported, as a preloading server forks its workers, so start-up is not an import per worker;
all state is built after the fork): it builds a `Pipe` with the valves an
operator sets (`ARTIFACT_DATABASE_URL`, `ARTIFACT_ENCRYPTION_KEY`, and for write-behind
`REDIS_URL` with `WRITE_BEHIND_ENABLED`), asks it for the vault its turn recorder uses
(`Pipe._recorder(...).vault_factory()`: the runtime's vault with the write-behind store in
front when Redis is on) and saves turns through `ArtifactVault.save_turn`, the call
`TurnRecorder.commit` makes at the end of a chat: sealing (compression, encryption) included.

Talks to the bench over a `multiprocessing` pipe:

- after one warm-up turn (keys derived, pools and the flusher running) it prints
  `{"ready": [ids]}` and waits for `{"go": EPOCH}`; at that wall-clock time every worker starts;
- it saves `--turns` turns (three artifacts each, as `orsim bench store` writes them; back to
  back, or `--rate` per second on a fixed schedule), then
  prints `{"turns": [[t_handed, t_back, [ids]], ...], "failed": N}` (epoch seconds);
- its flusher keeps moving queued turns (any worker's) to the database until `{"stop": true}`;
  then the runtime closes (write-behind drains) and it prints `{"lags": [...]}`, the flush lags
  its flusher measured (queued to committed and acknowledged, seconds).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from pipe import Pipe
from pipe.logs import RequestContext
from pipe.runtime import close_runtimes, get_runtime
from pipe.storage.vault import ArtifactVault, VaultUnavailable
from pipe.storage.writebehind import WriteBehindStore
from simulator.bench.store import SECRET, _turn_artifacts


def _pipe(database_url: str, redis_url: str) -> Pipe:
    pipe = Pipe()
    pipe.valves = Pipe.Valves(
        ARTIFACT_DATABASE_URL=database_url,
        ARTIFACT_ENCRYPTION_KEY=SECRET,
        REDIS_URL=redis_url,
        REDIS_ENABLED=bool(redis_url),
        WRITE_BEHIND_ENABLED=bool(redis_url),
    )
    return pipe


async def _vault(pipe: Pipe, user: str) -> ArtifactVault:
    """The vault a chat's turn recorder saves through, built as the pipe builds it."""
    ctx = RequestContext(request_id="bench", user_id=user, chat_id=f"chat-{user}")
    recorder = pipe._recorder(pipe.valves, ctx, get_runtime(None))
    vault = recorder.vault_factory()
    await vault.codec()
    return vault


@dataclass(frozen=True)
class WorkerArgs:
    database_url: str
    redis: str  # "" : direct writes
    turns: int
    user: str
    rate: float = 0.0  # turns/s on a fixed schedule (0: back to back)


async def run(conn: Connection, args: WorkerArgs) -> None:
    pipe = _pipe(args.database_url, args.redis)
    vault = await _vault(pipe, args.user)
    chat = f"chat-{args.user}"
    warm = _turn_artifacts(args.user, chat, -1)
    await vault.save_turn(warm, user_id=args.user)
    conn.send({"ready": [a.id for a in warm]})
    go = float((await asyncio.to_thread(conn.recv))["go"])
    await asyncio.sleep(max(0.0, go - time.time()))
    turns: list[list[Any]] = []
    failed = 0
    for n in range(args.turns):
        if args.rate:  # open loop: turns end on a schedule, however long the last one took
            await asyncio.sleep(max(0.0, go + n / args.rate - time.time()))
        artifacts = _turn_artifacts(args.user, chat, n)
        handed = time.time()
        try:
            await vault.save_turn(artifacts, user_id=args.user)
        except VaultUnavailable:
            failed += 1  # what a chat would show as "History not saved"
            continue
        turns.append([handed, time.time(), [a.id for a in artifacts]])
    conn.send({"turns": turns, "failed": failed})
    await asyncio.to_thread(conn.recv)  # stop: every promised row is in the database
    store = vault.store
    lags = list(store.flusher.lags) if isinstance(store, WriteBehindStore) else []
    await close_runtimes()
    conn.send({"lags": lags})


def serve(conn: Connection, args: WorkerArgs) -> None:
    """The forked worker's whole life."""
    asyncio.run(run(conn, args))
