"""Chaos on real processes: write-behind workers (`simulator.services.wbworker`, the pipe's own
WriteBehindStore) on a real redis-server and a real PostgreSQL, with processes killed and
servers stopped under them. Every case ends with every turn a worker promised (its ids file)
in the database exactly once, the queue empty, nothing left pending, and no process hung."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis

from pipe.storage.database import Database, choose_target
from pipe.storage.schema import ARTIFACT_TABLE
from simulator.services.redis_server import RedisServer, free_port

pytestmark = pytest.mark.timeout(120)


class Worker:
    def __init__(self, tmp: Path, name: str, redis_url: str, db_url: str, **opts: object):
        self.ids_file = tmp / f"{name}.ids"
        self.ids_file.touch()
        self.ready_file = tmp / f"{name}.ready"
        args = [
            sys.executable, "-m", "simulator.services.wbworker",
            "--redis", redis_url, "--database-url", db_url,
            "--ids-file", str(self.ids_file), "--confirm-seconds", "0.5",
            "--ready-file", str(self.ready_file),
        ]  # fmt: skip
        for key, value in opts.items():
            flag = "--" + key.replace("_", "-")
            args += [flag] if value is True else [flag, str(value)]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.stats: dict[str, float] = {}

    def wait_ready(self, timeout: float = 30) -> None:
        wait_until(self.ready_file.exists, timeout, "the worker to start")

    def promised(self) -> list[str]:
        return [line for line in self.ids_file.read_text().splitlines() if line]

    def wait_written(self, n: int, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while len(self.promised()) < n:
            assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
            assert time.monotonic() < end, f"only {len(self.promised())} of {n} ids written"
            time.sleep(0.02)

    def finish(self, timeout: float = 60, terminate: bool = False) -> dict[str, float]:
        if terminate and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=timeout)  # no hang: a timeout fails the test
        assert self.proc.returncode == 0, f"exit {self.proc.returncode}: {err[-3000:]}"
        self.stats = json.loads(out.strip().splitlines()[-1])
        return self.stats

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


def stored_ids(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute(f"SELECT id FROM {ARTIFACT_TABLE}")]


def assert_exactly_once(db_url: str, workers: list[Worker]) -> None:
    promised = [i for w in workers for i in w.promised()]
    assert promised, "nothing was written"
    stored = stored_ids(db_url)
    assert len(stored) == len(set(stored))
    assert sorted(stored) == sorted(promised), (
        f"lost {len(set(promised) - set(stored))}, unexpected {len(set(stored) - set(promised))}"
    )


def assert_queue_empty(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter("openrouter-pipe:wb:*:stream"):
        assert client.xlen(key) == 0
        for group in client.xinfo_groups(key):
            assert group["pending"] == 0


def create_tables(db_url: str) -> None:
    async def ready() -> None:
        db = Database(choose_target(db_url))
        await db.ready()
        await db.dispose()

    asyncio.run(ready())


def wait_until(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_redis_killed_mid_flush_and_restarted_empty_loses_nothing(
    tmp_path, redis_server: RedisServer, postgres_url: str
) -> None:
    workers = [
        Worker(tmp_path, f"w{i}", redis_server.url, postgres_url, turns=60, interval=0.01)
        for i in range(2)
    ]
    workers[0].wait_written(60)
    redis_server.kill()  # mid-flush: both workers are writing and flushing
    time.sleep(0.5)
    redis_server.start()  # same port, no persistence: the queue is gone
    stats = [w.finish() for w in workers]
    assert_exactly_once(postgres_url, workers)
    assert_queue_empty(redis_server.url)
    assert sum(s["direct"] for s in stats) > 0  # what Redis lost was written directly


def test_a_worker_killed_mid_flush_has_its_turns_reclaimed_by_another(
    tmp_path, redis_server: RedisServer, postgres_url: str
) -> None:
    create_tables(postgres_url)
    locker = psycopg.connect(postgres_url)
    locker.execute(f"LOCK TABLE {ARTIFACT_TABLE} IN ACCESS EXCLUSIVE MODE")  # slow database
    doomed = Worker(tmp_path, "doomed", redis_server.url, postgres_url, turns=10, claim_seconds=1)
    doomed.wait_written(30)
    client = redis.Redis.from_url(redis_server.url)
    stream = next(iter(client.scan_iter("openrouter-pipe:wb:*:stream")))
    wait_until(lambda: client.xpending(stream, "flushers")["pending"] > 0, 10, "a taken batch")
    doomed.kill()  # it took a batch and was writing it
    survivor = Worker(
        tmp_path, "survivor", redis_server.url, postgres_url, turns=0, claim_seconds=1, linger=True
    )
    survivor.wait_ready()
    locker.rollback()
    locker.close()
    wait_until(lambda: len(stored_ids(postgres_url)) == 30, 30, "the reclaimed turns")
    survivor.finish(terminate=True)
    assert_exactly_once(postgres_url, [doomed, survivor])
    assert_queue_empty(redis_server.url)


def test_claims_expiring_during_a_slow_write_race_two_flushers_without_duplicates(
    tmp_path, redis_server: RedisServer, postgres_url: str
) -> None:
    create_tables(postgres_url)
    locker = psycopg.connect(postgres_url)
    locker.execute(f"LOCK TABLE {ARTIFACT_TABLE} IN ACCESS EXCLUSIVE MODE")
    writer = Worker(
        tmp_path, "writer", redis_server.url, postgres_url, turns=8, claim_seconds=0.5, linger=True
    )
    writer.wait_written(24)
    time.sleep(0.3)  # the writer's flusher holds its batch, blocked in the database
    thief = Worker(
        tmp_path, "thief", redis_server.url, postgres_url, turns=0, claim_seconds=0.5, linger=True
    )
    thief.wait_ready()
    client = redis.Redis.from_url(redis_server.url)
    stream = next(iter(client.scan_iter("openrouter-pipe:wb:*:stream")))

    def stolen() -> bool:  # the claim expired: the thief took the batch and blocks too
        pending = client.xpending_range(stream, "flushers", "-", "+", 100)
        return any(f":{thief.proc.pid}:".encode() in p["consumer"] for p in pending)

    wait_until(stolen, 20, "the thief to claim the writer's batch")
    locker.rollback()
    locker.close()
    wait_until(lambda: len(stored_ids(postgres_url)) == 24, 30, "both flushers")
    time.sleep(1.0)
    stats = [w.finish(terminate=True) for w in (writer, thief)]
    assert_exactly_once(postgres_url, [writer, thief])
    assert_queue_empty(redis_server.url)
    assert stats[1]["flushed"] > 0 and sum(s["flushed"] for s in stats) > 8  # a double flush


def test_a_database_outage_is_ridden_out_and_writes_catch_up(
    tmp_path, redis_server: RedisServer, postgres_server, postgres_url: str
) -> None:
    workers = [
        Worker(tmp_path, f"w{i}", redis_server.url, postgres_url, turns=40, interval=0.02)
        for i in range(2)
    ]
    for w in workers:
        w.wait_written(15)
    postgres_server.stop_accepting()
    try:
        before = [len(w.promised()) for w in workers]
        time.sleep(1.0)  # turns keep being accepted while the database is down
        assert [len(w.promised()) for w in workers] > before
    finally:
        postgres_server.resume()
    stats = [w.finish() for w in workers]
    assert_exactly_once(postgres_url, workers)
    assert_queue_empty(redis_server.url)
    assert sum(s["failed"] for s in stats) == 0


def test_redis_refusing_from_the_start_writes_everything_directly(
    tmp_path, postgres_url: str
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    workers = [Worker(tmp_path, f"w{i}", closed, postgres_url, turns=20) for i in range(2)]
    stats = [w.finish() for w in workers]
    assert_exactly_once(postgres_url, workers)
    assert [s["direct"] for s in stats] == [20, 20]


async def test_a_worker_killed_holding_a_fleet_lease_gives_the_capacity_back(
    tmp_path, serve_host, openrouter_sim, redis_server: RedisServer
) -> None:
    """Two replicas (one worker each) share a fleet-wide budget of one request. The replica
    holding the only lease is killed -9 mid-answer; the other one's chat waits for the lease
    to expire (GLOBAL_LEASE_SECONDS) and is answered; nothing is left in the lease set."""
    import httpx

    from simulator.export import export_function
    from tests.fleet.test_workers import HEADERS, start_fleet

    pipe_file = export_function(tmp_path / "openrouter.py")
    valves = {"GLOBAL_MAX_CONCURRENT_REQUESTS": 1, "GLOBAL_LEASE_SECONDS": 3}
    a, b = (
        start_fleet(serve_host, pipe_file, openrouter_sim, "--redis", redis_server.url,
                    workers=1, **valves)
        for _ in range(2)
    )  # fmt: skip
    client = redis.Redis.from_url(redis_server.url)
    leases = "openrouter-pipe:leases:requests"
    openrouter_sim.enqueue({"script": {"text": "never seen"}, "ttft": 60})
    body = {"model": "openrouter.openai.gpt-4o-mini", "stream": True,
            "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    async with httpx.AsyncClient(timeout=60) as http:
        held = asyncio.create_task(
            http.post(f"{a.url}/api/chat/completions", headers=HEADERS, json=body)
        )
        await asyncio.to_thread(wait_until, lambda: client.zcard(leases) == 1, 20, "the lease")
        await asyncio.to_thread(  # mid-answer: the slow upstream call is under way
            wait_until, lambda: openrouter_sim.requests_to("/responses"), 20, "the upstream call"
        )
        os.killpg(a.process.pid, signal.SIGKILL)  # the replica dies holding the lease
        with pytest.raises(httpx.HTTPError):
            await held
        reply = await http.post(f"{b.url}/api/chat/completions", headers=HEADERS, json=body)
    assert reply.status_code == 200 and "data: [DONE]" in reply.text
    assert "busy" not in reply.text.lower()
    assert client.zcard(leases) == 0  # no leaked lease
