"""Whole chat servers for the chaos tests: `orsim serve-host` replicas (one worker process
each, so a chat's turns can be sent to one and then the other, deterministically) running the
exported pipe against the fake OpenRouter, sharing a real redis-server and a real PostgreSQL.

The fake OpenRouter's default answer echoes the user's message and, for a reasoning model,
returns an encrypted reasoning item: the pipe stores it and ends the answer with a replay
marker naming the artifact id. So every answered turn promises one artifact (its marker), and
the next turn's upstream request shows whether the chat's history replayed (one reasoning item
per marker in the history it was sent).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from pipe.storage.database import Database, choose_target
from pipe.storage.schema import ARTIFACT_TABLE

TOKEN = "tok"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
FID = "openrouter"
MODEL = f"{FID}.openai.o4-mini"
LEASES = "openrouter-pipe:leases:requests"
MARKER = re.compile(r"\[or:([A-Za-z0-9_-]{22})\]: #")


def start_replica(serve_host, pipe_file: Path, sim, redis_url: str, db_url: str, **valves: Any):
    """One `orsim serve-host` replica with one worker process; returns the ServedHost. The
    pipe keeps its tables in the host's database (`--database-url`, Open WebUI's DATABASE_URL)."""
    values = {
        "BASE_URL": sim.base_url,
        "API_KEY": sim.api_key,
        "WRITE_BEHIND_CLAIM_SECONDS": 1,
        "GLOBAL_MAX_CONCURRENT_REQUESTS": 32,  # leases on every request, never a wait
        "GLOBAL_LEASE_SECONDS": 3,
        **valves,
    }
    return serve_host(
        "--function", str(pipe_file), "--function-id", FID, "--workers", "1",
        "--valves", json.dumps(values), "--user", f"{TOKEN}=u1:admin", "--redis", redis_url, "--database-url", db_url,
    )  # fmt: skip


def kill_replica(replica) -> None:
    """kill -9 the replica's whole process group (no shutdown, no drain)."""
    os.killpg(replica.process.pid, signal.SIGKILL)
    replica.process.wait(timeout=10)


@dataclass
class Turn:
    chat: str
    number: int
    replica: int
    user: str
    answer: str = ""
    error: str = ""  # what the client saw instead of an answer
    history_markers: int = 0  # markers in the history this turn sent

    @property
    def markers(self) -> list[str]:
        return MARKER.findall(self.answer)


@dataclass
class Chat:
    """One chat as Open WebUI keeps it: the history (answers with their markers) goes back
    with every turn; turn N goes to replica (start + N) mod len(replicas)."""

    chat_id: str
    start: int = 0
    messages: list[dict[str, str]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)

    async def say(self, http: httpx.AsyncClient, replicas: list[Any], within: float = 30) -> Turn:
        index = (self.start + len(self.turns)) % len(replicas)
        turn = Turn(self.chat_id, len(self.turns) + 1, index, "")
        turn.user = f"{self.chat_id} turn {turn.number}"
        turn.history_markers = sum(len(MARKER.findall(m["content"])) for m in self.messages)
        self.messages.append({"role": "user", "content": turn.user})
        body = {"model": MODEL, "stream": True, "messages": self.messages, "chat_id": self.chat_id}
        try:
            reply = await http.post(
                f"{replicas[index].url}/api/chat/completions",
                headers=HEADERS,
                json=body,
                timeout=within,
            )
            turn.answer, turn.error = read_stream(reply)
        except httpx.HTTPError as exc:  # the server died under the request
            turn.error = f"{type(exc).__name__}: {exc}"
        if turn.error:
            self.messages.pop()  # the user retries later; the failed turn is not kept
        else:
            self.messages.append({"role": "assistant", "content": turn.answer})
        self.turns.append(turn)
        return turn


def read_stream(reply: httpx.Response) -> tuple[str, str]:
    """(answer text, error) from an OpenAI-style SSE chat answer."""
    if reply.status_code != 200:
        return "", f"HTTP {reply.status_code}: {reply.text[:300]}"
    text, error = "", ""
    for line in reply.text.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        if chunk.get("error"):
            error = str(chunk["error"])
        for choice in chunk.get("choices") or []:
            text += (choice.get("delta") or {}).get("content") or ""
    if "data: [DONE]" not in reply.text and not error:
        error = "the stream ended without [DONE]"
    return text, error


async def round_of_turns(http: httpx.AsyncClient, chats: list[Chat], replicas: list[Any]):
    """One more turn in every chat, the chats at once."""
    return await asyncio.gather(*(c.say(http, replicas) for c in chats))


def new_chats(n: int, prefix: str) -> list[Chat]:
    return [Chat(f"{prefix}-{i}", start=i % 2) for i in range(n)]


def promised(chats: list[Chat]) -> list[str]:
    return [m for c in chats for t in c.turns for m in t.markers]


def stored_ids(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute(f"SELECT id FROM {ARTIFACT_TABLE}")]


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


async def eventually(predicate, within: float, what: str) -> None:
    await asyncio.to_thread(wait_until, predicate, within, what)


def replayed_reasoning(sim, user_text: str) -> int | None:
    """Reasoning items in the upstream request that carried this user message last."""
    for entry in reversed(sim.requests_to("/responses")):
        items = (entry.get("body") or {}).get("input") or []
        users = [i for i in items if i.get("role") == "user"]
        if users and _text(users[-1]) == user_text:
            return sum(1 for i in items if i.get("type") == "reasoning")
    return None


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


def assert_replayed_in_full(sim, turns: list[Turn]) -> None:
    """Each answered turn's request replayed one reasoning item per marker of its history."""
    for turn in turns:
        assert not turn.error, turn
        replayed = replayed_reasoning(sim, turn.user)
        assert replayed == turn.history_markers, (turn.user, turn.replica, replayed)


def assert_exactly_once(db_url: str, chats: list[Chat], extra_allowed: int = 0) -> None:
    """Every artifact a marker promised is in the database once; nothing unpromised, except
    what turns cut by a kill may have committed without reaching the client."""
    for turn in (t for c in chats for t in c.turns):  # each answered, with its one marker
        assert not turn.error and len(turn.markers) == 1, turn
    wanted = promised(chats)
    assert wanted, "no chat was answered"
    assert len(wanted) == len(set(wanted))
    stored = stored_ids(db_url)
    assert len(stored) == len(set(stored)), "an artifact is stored twice"
    missing = set(wanted) - set(stored)
    assert not missing, f"lost {len(missing)} of {len(wanted)} promised artifacts"
    assert len(set(stored) - set(wanted)) <= extra_allowed


def assert_clean(redis_url: str) -> None:
    """The write-behind queue is empty, nothing is pending, no lease is left."""
    client = redis.Redis.from_url(redis_url)

    def drained() -> bool:
        for key in client.scan_iter("openrouter-pipe:wb:*:stream"):
            if client.xlen(key) or any(g["pending"] for g in client.xinfo_groups(key)):
                return False
        return True

    # Entries are acknowledged just after their rows are committed (which is what the tests
    # wait for): allow that moment; an entry that is never acknowledged still fails here.
    wait_until(drained, 5, "the write-behind queue drained")
    # A lease goes back just after its answer's last byte: allow that moment, below every
    # test's GLOBAL_LEASE_SECONDS, so only a leaked (renewed) lease fails here.
    wait_until(lambda: client.zcard(LEASES) == 0, 2, "every lease back (one outlived its request)")


def all_stored(db_url: str, chats: list[Chat]):
    def check() -> bool:
        try:
            return set(promised(chats)) <= set(stored_ids(db_url))
        except psycopg.Error:
            return False

    return check


def pending_of(redis_url: str) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(redis_url)
    out: list[dict[str, Any]] = []
    for key in client.scan_iter("openrouter-pipe:wb:*:stream"):
        out += client.xpending_range(key, "flushers", "-", "+", 1000)
    return out
