"""Per-request session journal: every log record (DEBUG included), the upstream request and the
raw bytes of each attempt, and what the user ended up seeing.

A `SessionJournal` rides on the request's `RequestContext`, so the log filter and the upstream
client find it without being handed it. It is bounded (records, bytes) and, when the request
ends (answer, error or cancellation), `snapshot()` gives the JSON document that becomes one
encrypted archive (pipe/storage/archives.py), with every secret redacted first.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .logs import current_journal, current_telemetry
from .redaction import redact

ARCHIVE_FORMAT = "openrouter-pipe-session-log/1"
MESSAGE_MAX = 8_000  # one log record's message in an archive


@dataclass
class Attempt:
    """One upstream call: what was sent and every chunk of bytes that came back."""

    n: int
    url: str
    request: Any
    started: float
    status: int | None = None
    generation_id: str = ""
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    body: Any = None  # a non-streamed answer or a pre-stream error body
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        chunks = []
        for offset, data in self.chunks:
            try:
                chunks.append({"offset": round(offset, 6), "text": data.decode("utf-8")})
            except UnicodeDecodeError:
                chunks.append({"offset": round(offset, 6), "b64": base64.b64encode(data).decode()})
        return {
            "n": self.n,
            "url": self.url,
            "request": self.request,
            "started": round(self.started, 6),
            "status": self.status,
            "generation_id": self.generation_id,
            "chunks": chunks,
            "body": self.body,
            "error": self.error,
        }


class SessionJournal:
    """Everything one request did; bounded by `max_records` and `max_bytes`."""

    def __init__(
        self, *, capture: bool = True, max_records: int = 5_000, max_bytes: int = 8_000_000
    ) -> None:
        self.capture = capture  # False: only the outcome is tracked (usage records, telemetry)
        self.started_wall = time.time()
        self._t0 = time.monotonic()
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.records: list[dict[str, Any]] = []
        self.attempts: list[Attempt] = []
        self.dropped_records = 0
        self.dropped_bytes = 0
        self._bytes = 0
        self.chat: dict[str, Any] = {}
        self.valves: dict[str, Any] = {}
        self.model = ""
        self.content: list[str] = []
        self.statuses: list[str] = []
        self.outcome = "ok"
        self.error_kind = ""
        self.first_output: float | None = None  # seconds from the start to the first text
        self.usage: dict[str, Any] | None = None  # what Open WebUI was told (summed rounds)

    def now(self) -> float:
        return time.monotonic() - self._t0

    def _room(self, size: int) -> bool:
        if self._bytes + size > self.max_bytes:
            self.dropped_bytes += size
            return False
        self._bytes += size
        return True

    # -- what the log filter and the upstream client call

    def record(self, record: logging.LogRecord, message: str) -> None:
        if len(self.records) >= self.max_records or not self._room(len(message) + 80):
            self.dropped_records += 1
            return
        entry = {
            "t": round(self.now(), 6),
            "level": record.levelname,
            "logger": record.name,
            "where": f"{record.module}:{record.lineno}",
            "message": message[:MESSAGE_MAX],
        }
        if record.exc_text:
            entry["exception"] = record.exc_text[:MESSAGE_MAX]
        self.records.append(entry)

    def attempt(self, url: str, body: bytes) -> Attempt:
        try:
            request: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            request = body.decode("utf-8", "replace")
        if not self._room(len(body)):
            request = {"omitted": f"{len(body):,} bytes over SESSION_LOG_MAX_BYTES"}
        attempt = Attempt(len(self.attempts) + 1, url, request, self.now())
        self.attempts.append(attempt)
        return attempt

    def chunk(self, attempt: Attempt, data: bytes) -> None:
        if self._room(len(data)):
            attempt.chunks.append((self.now() - attempt.started, data))

    # -- what the user saw

    def failed(self, kind: str) -> None:
        self.outcome, self.error_kind = "error", kind

    def saw_chunk(self, chunk: Any) -> None:
        if isinstance(chunk, str):
            self.content.append(chunk)
            return
        if not isinstance(chunk, dict):
            return
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or choice.get("message") or {}
            if isinstance(delta.get("content"), str) or delta.get("reasoning_content"):
                if self.first_output is None:
                    self.first_output = self.now()
            if isinstance(delta.get("content"), str):
                self.content.append(delta["content"])

    def saw_event(self, event: dict[str, Any]) -> None:
        data = event.get("data") if isinstance(event, dict) else None
        if isinstance(data, dict) and event.get("type") == "status":
            if data.get("description"):
                self.statuses.append(str(data["description"]))
            if data.get("error") and self.outcome == "ok":
                self.outcome = "error"

    def _bounded_chat(self, limit: int) -> dict[str, Any]:
        """The chat request with its oldest messages dropped beyond `limit` bytes of JSON."""
        messages = list(self.chat.get("messages") or [])
        kept: list[Any] = []
        size = 0
        for message in reversed(messages):
            size += len(orjson.dumps(message, default=str))
            if size > limit and kept:
                break
            kept.append(message)
        dropped = len(messages) - len(kept)
        self.dropped_bytes += size if dropped else 0
        return {**self.chat, "messages": kept[::-1], "messages_dropped": dropped}

    def snapshot(self, ids: dict[str, str]) -> bytes:
        """The archive document as redacted JSON bytes (about 1.5 x max_bytes at most)."""
        content = "".join(self.content)
        if len(content) > self.max_bytes // 4:
            self.dropped_bytes += len(content) - self.max_bytes // 4
            content = content[: self.max_bytes // 4]
        doc = {
            "format": ARCHIVE_FORMAT,
            "ids": ids,
            "model": self.model,
            "started_at": self.started_wall,
            "duration": round(self.now(), 6),
            "outcome": self.outcome,
            "error_kind": self.error_kind,
            "chat": self._bounded_chat(self.max_bytes // 4),
            "valves": self.valves,
            "attempts": [a.as_json() for a in self.attempts],
            "records": self.records,
            "visible": {"content": content, "statuses": self.statuses[-200:]},
            "dropped": {"records": self.dropped_records, "bytes": self.dropped_bytes},
        }
        text = orjson.dumps(doc, default=str).decode()
        return redact(text).encode()  # one pass over everything: no secret is written


Writer = Callable[[SessionJournal], Awaitable[None]]


async def journaled_stream(
    chunks: AsyncIterator[Any], journal: SessionJournal, write: Writer
) -> AsyncIterator[Any]:
    """Pass a streamed answer through, noting what the user saw; the archive is written when
    the stream ends, fails or is cancelled (the client went away)."""
    try:
        async for chunk in chunks:
            journal.saw_chunk(chunk)
            yield chunk
    except BaseException:  # GeneratorExit / CancelledError: the client went away
        journal.outcome = "cancelled"
        raise
    finally:
        await write(journal)


def recording_emitter(emitter: Any, journal: SessionJournal) -> Any:
    """The host's `__event_emitter__`, with each event noted in the journal first."""

    async def emit(event: dict[str, Any]) -> Any:
        journal.saw_event(event)
        if emitter is not None:
            return await emitter(event)
        return None

    return emit


class AttemptObserver:
    """What one upstream attempt tells the session journal (request, raw bytes, status) and
    the telemetry span (status, generation id, error). Created only when one of them is on."""

    def __init__(self, journal: SessionJournal | None, telemetry: Any, url: str, body: bytes):
        self._journal = journal
        self.attempt = journal.attempt(url, body) if journal is not None else None
        n = self.attempt.n if self.attempt is not None else 0
        self._telemetry = telemetry
        self._span = telemetry.attempt(n, url) if telemetry is not None else None
        self._status: int | None = None
        self._generation = ""
        self._error = ""

    @staticmethod
    def wanted() -> bool:
        """Whether `start` would observe anything (a session journal or telemetry is on)."""
        return current_journal() is not None or current_telemetry() is not None

    @classmethod
    def start(cls, url: str, body: bytes) -> AttemptObserver | None:
        journal, telemetry = current_journal(), current_telemetry()
        if journal is None and telemetry is None:
            return None
        return cls(journal, telemetry, url, body)

    def response(self, status: int, generation: str) -> None:
        self._status, self._generation = status, generation
        if self.attempt is not None:
            self.attempt.status, self.attempt.generation_id = status, generation

    def body(self, body: Any) -> None:
        if self.attempt is not None:
            self.attempt.body = body

    def chunk(self, data: bytes) -> None:
        if self.attempt is not None and self._journal is not None:
            self._journal.chunk(self.attempt, data)

    def failed(self, error: str) -> None:
        self._error = error
        if self.attempt is not None:
            self.attempt.error = error

    def done(self) -> None:
        if self._telemetry is not None:
            self._telemetry.attempt_done(self._span, self._status, self._generation, self._error)
