"""`orsim logs`: list session-log archives, open one (decrypting with the key) and print it as
text or JSON lines.

Where the archives are: `--dir PATH` (the SESSION_LOG_DIR valve) or `--db URL` (default: the
DATABASE_URL environment variable, as Open WebUI reads it, else the pipe's own SQLite file in
DATA_DIR). The key: `--secret` or WEBUI_SECRET_KEY (else the key file in DATA_DIR), exactly as
the pipe chose it.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from pipe.storage.archives import (
    ArchiveBackend,
    ArchiveError,
    DatabaseArchives,
    DirectoryArchives,
    key_ring,
    open_archive,
)
from pipe.storage.crypto import ArtifactIntegrityError, ArtifactKeyError, resolve_secrets
from pipe.storage.database import Database, DatabaseTarget, async_url, choose_target

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str | None) -> int:
    """`7d`, `12h`, `30m` ago, or an epoch number; empty: everything."""
    if not text:
        return 0
    match = _DURATION.fullmatch(text.strip())
    if match:
        return int(time.time() - float(match.group(1)) * _UNIT[match.group(2)])
    return int(float(text))


def database(url: str | None) -> Database:
    url = url or os.environ.get("DATABASE_URL", "")
    target = DatabaseTarget(async_url(url), shared=False) if url else choose_target("")
    return Database(target)


def backend(directory: str | None, db_url: str | None) -> ArchiveBackend:
    if directory:
        return DirectoryArchives(directory)
    return DatabaseArchives(database(db_url))


async def list_archives(store: ArchiveBackend, **where: Any) -> list[dict[str, Any]]:
    return [asdict(meta) for meta in await store.list(**where)]


async def read_document(store: ArchiveBackend, archive_id: str, secret: str | None) -> dict:
    meta, blob = await store.read(archive_id)
    # An explicit --secret is the only one tried; otherwise the pipe's own choice.
    current, older = (secret, []) if secret else resolve_secrets("", "")
    keys = await key_ring(await store.salt(), current, older)
    try:
        return json.loads(open_archive(keys, meta, blob))
    except ArtifactKeyError as exc:
        raise ArchiveError(
            f"archive {archive_id} was sealed with key {meta.key_id}, which this secret does "
            "not give: pass the WEBUI_SECRET_KEY the pipe ran with (--secret)"
        ) from exc
    except ArtifactIntegrityError as exc:
        raise ArchiveError(f"archive {archive_id} does not open: {exc}") from exc


def sse_events(attempt: dict[str, Any]) -> Iterator[tuple[float, Any]]:
    """(offset, parsed data) for each SSE `data:` line of an attempt's raw chunks."""
    buffer = ""
    for chunk in attempt.get("chunks") or []:
        buffer += chunk.get("text", "")
        *lines, buffer = buffer.split("\n")
        for line in lines:
            if line.startswith("data:"):
                payload = line[5:].strip()
                try:
                    yield chunk["offset"], json.loads(payload)
                except ValueError:
                    yield chunk["offset"], payload


def as_json_lines(doc: dict[str, Any]) -> Iterator[str]:
    head = {k: doc.get(k) for k in ("format", "ids", "model", "outcome", "error_kind")}
    yield json.dumps({"kind": "archive", **head, "duration": doc.get("duration")})
    yield json.dumps({"kind": "chat", **(doc.get("chat") or {})})
    for attempt in doc.get("attempts") or []:
        summary = {k: attempt.get(k) for k in ("n", "url", "status", "generation_id", "error")}
        yield json.dumps({"kind": "attempt", **summary, "request": attempt.get("request")})
        if attempt.get("body") is not None:
            yield json.dumps({"kind": "body", "attempt": attempt["n"], "body": attempt["body"]})
        for offset, data in sse_events(attempt):
            yield json.dumps(
                {"kind": "event", "attempt": attempt["n"], "offset": offset, "data": data}
            )
    for record in doc.get("records") or []:
        yield json.dumps({"kind": "record", **record})
    yield json.dumps({"kind": "visible", **(doc.get("visible") or {})})


def as_text(doc: dict[str, Any]) -> Iterator[str]:
    ids = doc.get("ids") or {}
    yield (
        f"request {ids.get('request_id')}  user {ids.get('user_id') or '-'}  chat "
        f"{ids.get('chat_id') or '-'}  message {ids.get('message_id') or '-'}"
    )
    yield (
        f"model {doc.get('model')}  outcome {doc.get('outcome')}"
        + (f" ({doc['error_kind']})" if doc.get("error_kind") else "")
        + f"  {doc.get('duration', 0):.3f} s"
    )
    for message in (doc.get("chat") or {}).get("messages") or []:
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content)
        yield f"  [{message.get('role')}] {text[:500]}"
    for attempt in doc.get("attempts") or []:
        yield ""
        yield (
            f"== attempt {attempt['n']}: POST {attempt.get('url')} -> {attempt.get('status')}"
            + (f" generation {attempt['generation_id']}" if attempt.get("generation_id") else "")
            + (f"  ERROR {attempt['error']}" if attempt.get("error") else "")
        )
        yield "request: " + json.dumps(attempt.get("request"), ensure_ascii=False)
        if attempt.get("body") is not None:
            yield "body: " + json.dumps(attempt["body"], ensure_ascii=False)
        for offset, data in sse_events(attempt):
            kind = data.get("type") if isinstance(data, dict) else "raw"
            yield f"  +{offset:8.3f}s {kind}: " + json.dumps(data, ensure_ascii=False)[:400]
    yield ""
    yield "== log =="
    for record in doc.get("records") or []:
        yield f"  +{record['t']:8.3f}s {record['level']:<7} {record['where']}: {record['message']}"
    visible = doc.get("visible") or {}
    yield ""
    yield "== the user saw =="
    for status in visible.get("statuses") or []:
        yield f"  (status) {status}"
    yield visible.get("content") or ""
    dropped = doc.get("dropped") or {}
    if dropped.get("records") or dropped.get("bytes"):
        yield f"(over the caps: {dropped['records']} records, {dropped['bytes']} bytes not kept)"
