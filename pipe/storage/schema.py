"""The pipe's own tables, created idempotently in whatever database holds them.

One table set for every key and every pipe install: a row records the key that sealed it
(`key_id`), so rotating keys never strands data. Times are epoch seconds (as Open WebUI's own
tables keep them). `openrouter_pipe_meta` holds the schema version and the key-derivation salt.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 1
ARTIFACT_TABLE = "openrouter_pipe_artifacts"
META_TABLE = "openrouter_pipe_meta"
SESSION_LOG_TABLE = "openrouter_pipe_session_logs"
USAGE_TABLE = "openrouter_pipe_usage"

# A private MetaData: Open WebUI re-executes the function file on every edit, and declaring a
# table twice on its shared Base.metadata raises.
pipe_metadata = MetaData()

artifacts_table = Table(
    ARTIFACT_TABLE,
    pipe_metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(255), nullable=False),
    Column("chat_id", String(255), nullable=False, default=""),
    Column("message_id", String(255), nullable=False, default=""),
    Column("model_id", String(255), nullable=False, default=""),
    Column("item_type", String(32), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("codec", SmallInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used", BigInteger, nullable=False),
    # Retention deletes by last use; re-encryption walks one key; an operator may purge a chat.
    Index("ix_openrouter_pipe_artifacts_last_used", "last_used"),
    Index("ix_openrouter_pipe_artifacts_key_id", "key_id"),
    Index("ix_openrouter_pipe_artifacts_chat_id", "chat_id"),
)

meta_table = Table(
    META_TABLE,
    pipe_metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# One encrypted archive per request (docs/operations.md); listed without the key by its ids.
session_logs_table = Table(
    SESSION_LOG_TABLE,
    pipe_metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(255), nullable=False, default=""),
    Column("chat_id", String(255), nullable=False, default=""),
    Column("message_id", String(255), nullable=False, default=""),
    Column("request_id", String(64), nullable=False, default=""),
    Column("model", String(255), nullable=False, default=""),
    Column("outcome", String(16), nullable=False, default=""),
    Column("key_id", String(32), nullable=False),
    Column("size", Integer, nullable=False, default=0),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_openrouter_pipe_session_logs_created_at", "created_at"),
    Index("ix_openrouter_pipe_session_logs_chat_id", "chat_id"),
)

# One row per request when USAGE_RECORDS is on: who spent what.
usage_table = Table(
    USAGE_TABLE,
    pipe_metadata,
    Column("id", String(32), primary_key=True),
    Column("request_id", String(64), nullable=False, default=""),
    Column("user_id", String(255), nullable=False, default=""),
    Column("chat_id", String(255), nullable=False, default=""),
    Column("model", String(255), nullable=False, default=""),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("reasoning_tokens", Integer, nullable=False, default=0),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("cost", Float, nullable=True),
    Column("latency_ms", Integer, nullable=False, default=0),
    Column("ttft_ms", Integer, nullable=True),
    Column("outcome", String(32), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_openrouter_pipe_usage_created_at", "created_at"),
)
