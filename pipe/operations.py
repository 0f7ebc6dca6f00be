"""What one request leaves for the operator: its session-log archive, its usage row and its
telemetry (span and metrics).

`RequestRecords` is built per request from the valves. It applies LOG_LEVEL, creates the
request's `SessionJournal` when session logs or usage records are on, wraps the emitter and the
answer so the journal sees what the user saw, and when the request ends (answer, error or
cancellation) writes the archive and the usage row in the background.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from .logs import RequestContext, configure_logging, get_logger
from .runtime import PipeRuntime
from .sessionlog import SessionJournal, journaled_stream, recording_emitter
from .storage.usage import UsageRecord, write_usage
from .telemetry import RequestTelemetry

# Valves that are secrets or point at a machine: never copied into an archive.
# Never copied into a session log: keys, and URLs that may carry a password.
_PRIVATE_VALVES = frozenset(
    {
        "API_KEY",
        "BASE_URL",
        "SESSION_LOG_DIR",
        "REDIS_URL",
        "ARTIFACT_DATABASE_URL",
        "ARTIFACT_ENCRYPTION_KEY",
        "ARTIFACT_PREVIOUS_KEYS",
    }
)


class RequestRecords:
    def __init__(self, valves: Any, runtime: PipeRuntime, *, task: bool, model: str) -> None:
        self._valves = valves
        self._runtime = runtime
        self.archive = bool(valves.SESSION_LOG_ENABLED) and not task
        self.usage = bool(valves.USAGE_RECORDS_ENABLED)
        configure_logging(valves.LOG_LEVEL, capture=self.archive)
        self.telemetry = RequestTelemetry.start(
            runtime.pipe_metrics, {"model": model, "openrouter.task": bool(task)}
        )
        self.journal: SessionJournal | None = None
        if self.archive or self.usage or self.telemetry is not None:
            self.journal = SessionJournal(
                capture=self.archive,
                max_records=valves.SESSION_LOG_MAX_RECORDS,
                max_bytes=valves.SESSION_LOG_MAX_BYTES,
            )
            self.journal.model = model
        self._ctx: RequestContext | None = None

    def bind(self, ctx: RequestContext, body: dict[str, Any], task: Any) -> None:
        self._ctx = ctx
        if self.journal is not None and self.archive:
            defaults = type(self._valves)()
            self.journal.valves = {
                k: v
                for k, v in self._valves.model_dump().items()
                if k not in _PRIVATE_VALVES and getattr(defaults, k, None) != v
            }
            self.journal.chat = {
                "stream": bool(body.get("stream")),
                "task": str(task) if task else None,
                "messages": body.get("messages") or [],
                "tools": [t.get("function", t).get("name") for t in body.get("tools") or []],
            }

    def emitter(self, emitter: Any) -> Any:
        return recording_emitter(emitter, self.journal) if self.journal is not None else emitter

    def stream(self, chunks: AsyncIterator[Any]) -> AsyncIterator[Any]:
        if self.journal is None:
            return chunks
        return journaled_stream(chunks, self.journal, self._finish)

    async def complete(self, result: Any) -> Any:
        if self.journal is not None:
            self.journal.saw_chunk(result)
            await self._finish(self.journal)
        return result

    async def _finish(self, journal: SessionJournal) -> None:
        ctx = self._ctx
        if ctx is None:
            return
        ids = {
            "request_id": ctx.request_id,
            "user_id": ctx.user_id,
            "chat_id": ctx.chat_id,
            "message_id": ctx.message_id,
            "session_id": ctx.session_id,
        }
        if self.telemetry is not None:
            if journal.first_output is not None:
                self.telemetry.first_token(journal.first_output)
            self.telemetry.finish(journal.outcome, journal.error_kind, journal.usage)
        try:
            if self.archive:
                archiver = self._runtime.archiver(self._valves.SESSION_LOG_DIR)
                retention = self._valves.SESSION_LOG_RETENTION_DAYS
                self._runtime.spawn(archiver.save(journal, ids, retention))
            if self.usage:
                record = UsageRecord.from_usage(
                    ids,
                    journal.model,
                    journal.usage,
                    latency=journal.now(),
                    ttft=journal.first_output,
                    outcome=journal.error_kind or journal.outcome,
                )
                self._runtime.spawn(self._write_usage(record))
        except Exception as exc:  # a record is never worth an answer
            get_logger().warning("request records not written: %s", type(exc).__name__)

    async def _write_usage(self, record: UsageRecord) -> None:
        try:
            await write_usage(self._runtime.database(""), record)
        except Exception as exc:
            get_logger().warning(
                "usage record for %s not written: %s", record.request_id, type(exc).__name__
            )
