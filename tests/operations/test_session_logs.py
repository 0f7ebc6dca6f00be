"""Session-log archives on the real stack: the fake OpenRouter over loopback, a real SQLite
file (or directory), the pipe's own keys, `orsim logs` reading them back."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import secrets
import sqlite3
import subprocess

import httpx
import pytest
from typer.testing import CliRunner

from pipe.logs import LOGGER_NAME
from pipe.runtime import get_runtime
from pipe.storage.archives import (
    ArchiveError,
    ArchiveMeta,
    DirectoryArchives,
    archive_meta,
    key_ring,
    seal_archive,
)
from simulator.cli import app
from simulator.openrouter.state import SimConfig
from simulator.operations.archives import DatabaseArchives, backend, database, read_document
from tests.operations.conftest import SECRET
from tests.pipe.helpers import (
    chat_body,
    make_pipe,
    metadata,
    run_pipe,
    user,
)


async def orsim(*args: str):
    """`orsim ...` as a user runs it (its own event loop, so in a thread here)."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


def archived_pipe(sim, **valves):
    return make_pipe(sim, SESSION_LOG_ENABLED=True, **valves)


async def settle() -> None:
    await get_runtime().drain()


async def only_archive(store=None) -> dict:
    store = store or backend(None, None)
    metas = await store.list()
    assert len(metas) == 1, metas
    return await read_document(store, metas[0].id, None)


async def test_success_archive_holds_request_events_logs_and_what_the_user_saw(
    openrouter_sim, data_dir, caplog
):
    openrouter_sim.enqueue({"script": {"text": "Bonjour, le café est prêt."}})
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        out = await run_pipe(archived_pipe(openrouter_sim, LOG_LEVEL="WARNING"), chat_body("Hi"))
    await settle()
    assert out.text == "Bonjour, le café est prêt."
    doc = await only_archive()
    assert doc["outcome"] == "ok" and doc["ids"]["chat_id"] == "chat-1"
    assert doc["ids"]["message_id"] == "msg-1" and doc["ids"]["user_id"] == "user-1"
    (attempt,) = doc["attempts"]
    assert attempt["status"] == 200 and attempt["request"]["model"] == "openai/gpt-4o-mini"
    assert attempt["request"]["input"][0]["content"][0]["text"] == "Hi"
    raw = "".join(c["text"] for c in attempt["chunks"])
    assert "response.completed" in raw and "Bonjour" in raw
    levels = {r["level"] for r in doc["records"]}
    assert "DEBUG" in levels  # captured although the console level is WARNING
    assert not [r for r in caplog.records if r.levelno < logging.WARNING]
    assert doc["visible"]["content"] == out.text
    assert doc["chat"]["messages"][-1]["content"] == "Hi"
    # At rest the archive is ciphertext: neither the answer nor the question is readable.
    with sqlite3.connect(data_dir / "openrouter_pipe.db") as db:
        (payload,) = db.execute("SELECT payload FROM openrouter_pipe_session_logs").fetchone()
    assert b"Bonjour" not in payload and b"gpt-4o-mini" not in payload


async def test_error_archive_has_the_key_redacted_and_orsim_logs_shows_it(openrouter_sim, data_dir):
    key = "sk-or-v1-" + secrets.token_hex(32)
    openrouter_sim.state.config = SimConfig(api_keys=[key])
    body = {"error": {"code": 401, "message": f"Invalid key {key}"}}
    openrouter_sim.enqueue({"status": 401, "body": body})
    out = await run_pipe(archived_pipe(openrouter_sim, API_KEY=key), chat_body("x"))
    await settle()
    assert "authentication failed" in out.text
    store = backend(None, None)
    (meta,) = await store.list()
    assert meta.outcome == "error"
    text = (await orsim("logs", "show", meta.id)).output
    assert key not in text and "Invalid key [redacted]" in text
    assert (
        "== attempt 1: POST" in text
        and "-> 401" in text
        and '"model": "openai/gpt-4o-mini"' in text
    )
    lines = (await orsim("logs", "show", meta.id, "--format", "jsonl")).output
    kinds = [json.loads(line)["kind"] for line in lines.splitlines()]
    assert kinds[0] == "archive" and "attempt" in kinds and "record" in kinds
    assert key not in lines
    listed = (await orsim("logs", "list", "--chat", "chat-1")).output
    assert meta.id in listed and "error" in listed
    doc = await read_document(store, meta.id, None)
    assert doc["error_kind"] == "auth" and key not in json.dumps(doc)


async def test_archive_holds_no_secret_valve_even_sealed(openrouter_sim, data_dir, tmp_path):
    secrets_typed = {
        "ARTIFACT_ENCRYPTION_KEY": "artifact-key-" + "k" * 20,
        "ARTIFACT_PREVIOUS_KEYS": "old-key-" + "o" * 20,
        "REDIS_URL": "redis://:redis-pass-" + "p" * 12 + "@127.0.0.1:1/0",
        "ARTIFACT_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
    }
    openrouter_sim.enqueue({"script": {"text": "ok"}})
    await run_pipe(
        archived_pipe(openrouter_sim, REDIS_ENABLED=False, **secrets_typed), chat_body("x")
    )
    await settle()
    doc = await only_archive()
    dumped = json.dumps(doc)
    assert doc["valves"].get("SESSION_LOG_ENABLED") is True  # other valves are recorded
    for name, value in secrets_typed.items():
        assert name not in doc["valves"]
        assert value not in dumped


async def test_cancelled_stream_is_archived_as_cancelled(openrouter_sim, data_dir):
    openrouter_sim.enqueue({"script": {"text": "word " * 200}, "tps": 50})
    result = await archived_pipe(openrouter_sim, STREAM_COALESCE_MS=0).pipe(
        body=chat_body("long"), __user__=user(), __metadata__=metadata()
    )
    async for _chunk in result:
        break  # the user pressed stop: Open WebUI closes the generator
    await result.aclose()
    await settle()
    doc = await only_archive()
    assert doc["outcome"] == "cancelled" and doc["attempts"][0]["chunks"]


async def test_wrong_secret_cannot_open_an_archive(openrouter_sim, data_dir):
    openrouter_sim.enqueue({"script": {"text": "private"}})
    await run_pipe(archived_pipe(openrouter_sim), chat_body("x"))
    await settle()
    store = backend(None, None)
    (meta,) = await store.list()
    with pytest.raises(ArchiveError, match="--secret"):
        await read_document(store, meta.id, "not-the-secret-the-pipe-used")
    result = await orsim("logs", "show", meta.id, "--secret", "wrong")
    assert result.exit_code == 1 and "private" not in result.output


@pytest.mark.parametrize("bad", ["../../etc/passwd", "a" * 32 + "/../x", "", "ZZ" * 16])
async def test_path_traversal_archive_ids_are_refused(tmp_path, bad):
    for store in (DirectoryArchives(tmp_path), DatabaseArchives(database(None))):
        with pytest.raises(ArchiveError, match="not an archive id"):
            await store.read(bad)


async def test_hostile_ids_stay_inside_the_archive_directory(tmp_path):
    root = tmp_path / "logs"
    store = DirectoryArchives(root)
    keys = await key_ring(await store.salt(), SECRET, [])
    ids = {"user_id": "../../../etc", "chat_id": "/tmp/x\x00y", "request_id": "r"}
    meta, blob = seal_archive(keys, archive_meta(ids, "m", "ok"), b'{"ok": true}')
    await store.write(meta, blob)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(root in p.parents for p in files)
    assert [m.id for m in await store.list()] == [meta.id]
    assert not [p for p in root.rglob("*.tmp")]  # the atomic write left no temp file


async def test_unwritable_directory_costs_a_warning_not_the_answer(
    openrouter_sim, data_dir, caplog
):
    blocker = data_dir / "not-a-dir"
    blocker.write_text("a file where the archive directory should be")
    openrouter_sim.enqueue({"script": {"text": "still answered"}})
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        out = await run_pipe(
            archived_pipe(openrouter_sim, SESSION_LOG_DIR=str(blocker / "logs")), chat_body("x")
        )
        await settle()
    assert out.text == "still answered"
    assert any("session log for request" in r.getMessage() for r in caplog.records)


@pytest.fixture
def full_disk(tmp_path):
    """A 64 kB tmpfs filled to the last byte (needs root, as in CI); unmounted afterwards."""
    mount = tmp_path / "full"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"x" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


async def test_full_disk_costs_a_warning_not_the_answer(
    openrouter_sim, data_dir, full_disk, caplog
):
    openrouter_sim.enqueue({"script": {"text": "answered on a full disk"}})
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        out = await run_pipe(
            archived_pipe(openrouter_sim, SESSION_LOG_DIR=str(full_disk / "logs")),
            chat_body("x"),
        )
        await settle()
    assert out.text == "answered on a full disk"
    failures = [r.getMessage() for r in caplog.records if "not written" in r.getMessage()]
    assert failures and "No space left on device" in failures[0]
    assert not list(full_disk.rglob("*.tmp"))  # no half-written archive left behind


async def test_directory_backend_round_trip_and_retention(openrouter_sim, data_dir):
    logs = data_dir / "archives"
    openrouter_sim.enqueue({"script": {"text": "kept on disk"}})
    await run_pipe(archived_pipe(openrouter_sim, SESSION_LOG_DIR=str(logs)), chat_body("x"))
    await settle()
    store = backend(str(logs), None)
    doc = await only_archive(store)
    assert doc["visible"]["content"] == "kept on disk"
    assert list(logs.glob("user-1/chat-1/*.orslog"))
    assert await store.cleanup(older_than=2**40) == 1 and await store.list() == []


async def test_size_cap_keeps_the_archive_bounded(openrouter_sim, data_dir):
    openrouter_sim.enqueue({"script": {"text": "lorem ipsum " * 5000}})
    await run_pipe(archived_pipe(openrouter_sim, SESSION_LOG_MAX_BYTES=10_000), chat_body("x"))
    await settle()
    (meta,) = await backend(None, None).list()
    doc = await only_archive()
    assert doc["dropped"]["bytes"] > 0 and meta.size < 40_000


async def test_usage_records_and_orsim_usage(openrouter_sim, data_dir):
    for cost in (0.002, 0.003):
        openrouter_sim.enqueue(
            {
                "script": {
                    "text": "ok",
                    "usage": {"input_tokens": 10, "output_tokens": 4, "cost": cost},
                }
            }
        )
        await run_pipe(make_pipe(openrouter_sim, USAGE_RECORDS_ENABLED=True), chat_body("x"))
    openrouter_sim.enqueue({"status": 402})
    await run_pipe(make_pipe(openrouter_sim, USAGE_RECORDS_ENABLED=True), chat_body("x"))
    await settle()
    result = await orsim("usage", "--json")
    (row,) = [json.loads(line) for line in result.output.splitlines()]
    assert row["user_id"] == "user-1" and row["model"] == "openrouter.openai.gpt-4o-mini"
    assert row["requests"] == 3 and row["failed"] == 1
    assert row["input_tokens"] == 20 and abs(row["cost"] - 0.005) < 1e-9
    assert "user-1" in (await orsim("usage")).output


async def test_two_workers_write_archives_for_the_same_chat(
    openrouter_sim, data_dir, serve_host, tmp_path
):
    from simulator.export import export_function

    function = export_function(tmp_path / "openrouter_responses_pipe.py")
    valves = {
        "BASE_URL": openrouter_sim.base_url,
        "API_KEY": openrouter_sim.api_key,
        "SESSION_LOG_ENABLED": True,
    }
    served = serve_host(
        "--function",
        str(function),
        "--workers",
        "2",
        "--valves",
        json.dumps(valves),
        "--user",
        "tok=u9:user",
        "--bypass-model-access-control",  # a plain user may chat with the pipe's models
    )

    body = {
        "model": "openrouter_responses_pipe.openai.gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "chat_id": "shared-chat",
    }
    limits = httpx.Limits(max_keepalive_connections=0)
    pids: set[str] = set()
    sent = 0
    headers = {"Authorization": "Bearer tok"}
    async with httpx.AsyncClient(
        base_url=served.url, limits=limits, timeout=30, headers=headers
    ) as http:
        for _ in range(5):
            replies = await asyncio.gather(
                *[http.post("/api/chat/completions", json=body) for _ in range(6)]
            )
            assert all(r.status_code == 200 for r in replies), replies[0].text
            pids |= {r.headers["x-orsim-worker-pid"] for r in replies}
            sent += len(replies)
            if len(pids) == 2:
                break
    assert len(pids) == 2
    store = backend(None, None)
    for _ in range(100):  # the workers write just after answering
        metas = await store.list(chat_id="shared-chat", limit=1000)
        if len(metas) >= sent:
            break
        await asyncio.sleep(0.1)
    assert len(metas) == sent and len({m.id for m in metas}) == sent  # one per request
    for meta in metas:
        doc = await read_document(store, meta.id, None)
        assert doc["outcome"] == "ok" and doc["attempts"][0]["status"] == 200


def test_archive_meta_is_listable_without_the_key():
    meta = archive_meta({"user_id": "u", "chat_id": "c"}, "model", "ok")
    assert isinstance(meta, ArchiveMeta) and len(meta.id) == 32
