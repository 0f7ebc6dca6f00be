"""The valves of state and operations: Redis sharing, write-behind, logs and session-log
archives, usage records, and the artifact store (docs/multi-worker.md, docs/operations.md,
docs/persistence.md), as a base of `Pipe.Valves` (which stays nested literally in the
controller). Kept apart so the controller holds the connection, request and tool valves only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from .feature_valves import FeatureValves
from .secret_valve import seal, seal_url

LogLevel = Literal["INHERIT", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
Retention = Literal["disabled", "next_reply", "conversation"]


class StateValves(FeatureValves):
    REDIS_ENABLED: bool = Field(
        default=True,
        description="Share state between workers through Redis when a Redis URL is known (off: every worker keeps its own).",
    )
    REDIS_URL: str = Field(
        default="",
        description="Redis for the shared state; empty means Open WebUI's own REDIS_URL (none: no sharing). Stored encrypted when it holds a password.",
    )
    GLOBAL_MAX_CONCURRENT_REQUESTS: int = Field(
        default=0,
        ge=0,
        le=100000,
        description="Requests running at once across all workers (needs Redis; 0: no fleet-wide limit).",
    )
    GLOBAL_QUEUE_TIMEOUT_SECONDS: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="How long a request waits for a fleet-wide slot before a 'busy' message.",
    )
    GLOBAL_LEASE_SECONDS: float = Field(
        default=30.0,
        ge=3,
        le=3600,
        description="A fleet-wide slot held by a worker that died is free again after this long.",
    )
    AUTH_FAILURE_COOLDOWN_SECONDS: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="After OpenRouter refuses the API key (401, or a 403 that is not a moderation flag), chats fail at once for this long instead of calling it again (every worker, with Redis); 0: off.",
    )
    WRITE_BEHIND_ENABLED: bool = Field(
        default=True,
        description="With Redis: stored reasoning/tool results go to Redis at once (readable by every worker) and to the database in batches.",
    )
    WRITE_BEHIND_BATCH_SIZE: int = Field(
        default=50, ge=1, le=1000, description="Queued turns written per database transaction."
    )
    WRITE_BEHIND_CLAIM_SECONDS: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="A queued turn taken by a worker that has not committed it after this long is taken over by another.",
    )
    WRITE_BEHIND_CACHE_SECONDS: int = Field(
        default=3600,
        ge=60,
        le=604800,
        description="How long queued rows stay readable from Redis (keep it above the longest database outage you ride out).",
    )
    WRITE_BEHIND_WARN_DEPTH: int = Field(
        default=1000,
        ge=1,
        le=10_000_000,
        description="Log a warning when more turns than this wait for the database.",
    )
    WRITE_BEHIND_FAILURE_LIMIT: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Redis refusals in a row before this worker writes turns directly to the database (until Redis answers).",
    )

    LOG_LEVEL: LogLevel = Field(
        default="INHERIT",
        description="The pipe's log level; INHERIT follows Open WebUI's (GLOBAL_LOG_LEVEL). Session logs capture DEBUG whatever this says.",
    )
    SESSION_LOG_ENABLED: bool = Field(
        default=False,
        description="Write one encrypted archive per chat request (logs, upstream request and raw events, what the user saw); docs/operations.md.",
    )
    SESSION_LOG_DIR: str = Field(
        default="",
        description="Empty: archives go to the database (Open WebUI's own; every worker can read them). A directory path: one file per archive there.",
    )
    SESSION_LOG_RETENTION_DAYS: int = Field(
        default=30, ge=1, le=3650, description="Archives older than this are deleted."
    )
    SESSION_LOG_MAX_BYTES: int = Field(
        default=8_000_000,
        ge=10_000,
        le=200_000_000,
        description="Most bytes of logs and upstream data kept per archive (before compression); the rest is counted, not kept.",
    )
    SESSION_LOG_MAX_RECORDS: int = Field(
        default=5_000, ge=100, le=200_000, description="Most log records kept per archive."
    )
    USAGE_RECORDS_ENABLED: bool = Field(
        default=False,
        description="Store one row per request (user, model, tokens, cost, latency, outcome) for `orsim usage`.",
    )

    REASONING_RETENTION: Retention = Field(
        default="conversation",
        description="Keep the model's reasoning for later turns: 'conversation' (until retention), 'next_reply' (deleted once replayed), 'disabled'.",
    )
    PERSIST_TOOL_RESULTS: bool = Field(
        default=True,
        description="Keep tool calls and their results so later turns still know what the tools returned.",
    )
    TOOL_OUTPUT_RETENTION_TURNS: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="Tool results older than this many turns are shortened to head and tail when replayed (0: never).",
    )
    ARTIFACT_DATABASE_URL: str = Field(
        default="",
        description="Database for stored reasoning/tool results; empty: Open WebUI's own database (outside Open WebUI: SQLite in DATA_DIR). Stored encrypted when it holds a password.",
    )
    ARTIFACT_ENCRYPTION_KEY: str = Field(
        default="",
        description="Secret that encrypts stored reasoning/tool results; empty: derived from WEBUI_SECRET_KEY. Stored encrypted (keyed from WEBUI_SECRET_KEY).",
        json_schema_extra={"input": {"type": "password"}},
    )
    ARTIFACT_PREVIOUS_KEYS: str = Field(
        default="",
        description="Earlier ARTIFACT_ENCRYPTION_KEY values (comma-separated) whose rows stay readable. Stored encrypted.",
        json_schema_extra={"input": {"type": "password"}},
    )
    ARTIFACT_RETENTION_DAYS: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Stored items unused for this many days are deleted.",
    )
    ARTIFACT_CLEANUP_INTERVAL_HOURS: float = Field(
        default=6.0, ge=0.1, le=168, description="How often each worker runs that cleanup."
    )
    ARTIFACT_MEMORY_CACHE_MB: float = Field(
        default=64.0,
        ge=0,
        le=4096,
        description="Memory per worker for stored items it saved or read lately (the next turn then replays them without a database read); 0 turns it off.",
    )

    @field_validator("ARTIFACT_ENCRYPTION_KEY", "ARTIFACT_PREVIOUS_KEYS")
    @classmethod
    def _seal_keys(cls, value: str, info: ValidationInfo) -> str:
        """Open WebUI stores what validation returns: the keys never sit in its database in
        the clear (next to the rows they protect)."""
        return seal(value, name=str(info.field_name))

    @field_validator("REDIS_URL", "ARTIFACT_DATABASE_URL")
    @classmethod
    def _seal_passwords(cls, value: str, info: ValidationInfo) -> str:
        return seal_url(value, str(info.field_name))
