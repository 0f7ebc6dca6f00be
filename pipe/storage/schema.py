"""The pipe's own tables, created idempotently in whatever database holds them.

One table set for every key and every pipe install: a row records the key that sealed it
(`key_id`), so rotating keys never strands data. Times are epoch seconds (as Open WebUI's own
tables keep them). `openrouter_pipe_meta` holds the schema version and the key-derivation salt.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
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
