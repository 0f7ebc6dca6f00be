"""`orsim store`: operator commands on the artifact store (stats, cleanup, re-encryption).

The database: `--db URL` (default: the DATABASE_URL environment variable, as Open WebUI reads
it, else the pipe's own SQLite file in DATA_DIR). The keys: `--key` / `--previous-keys` as the
ARTIFACT_ENCRYPTION_KEY / ARTIFACT_PREVIOUS_KEYS valves hold them (empty: WEBUI_SECRET_KEY or
the key file in DATA_DIR), exactly as the pipe chooses them.
"""

from __future__ import annotations

import time

from pipe.storage.crypto import resolve_secrets
from pipe.storage.vault import ArtifactVault
from simulator.operations.archives import database


def vault(db_url: str | None, key: str, previous_keys: str) -> ArtifactVault:
    current, older = resolve_secrets(key, previous_keys)
    return ArtifactVault(database(db_url), current, older, save_timeout=600, load_timeout=600)


async def stats(db_url: str | None, key: str, previous_keys: str) -> dict[str, object]:
    v = vault(db_url, key, previous_keys)
    try:
        codec = await v.codec()
        rows = await v.store.rows()
        by_key: dict[str, int] = {}
        for row in rows:
            by_key[row.key_id] = by_key.get(row.key_id, 0) + 1
        return {
            "database": v.db.label,
            "rows": len(rows),
            "by_type": await v.store.counts(),
            "by_key": by_key,
            "current_key_id": codec.keys.current_id,
            "readable_key_ids": codec.keys.key_ids,
            "bytes": sum(len(r.payload) for r in rows),
        }
    finally:
        await v.db.dispose()


async def reencrypt(db_url: str | None, key: str, previous_keys: str) -> tuple[int, int]:
    """(rows moved to the current key, rows left because no listed key opens them)."""
    v = vault(db_url, key, previous_keys)
    try:
        moved = await v.reencrypt()
        codec = await v.codec()
        left = len(await v.store.sealed_with_other_keys(codec.keys.current_id, 1_000_000))
        return moved, left
    finally:
        await v.db.dispose()


async def cleanup(db_url: str | None, days: int) -> int:
    v = vault(db_url, "", "")
    try:
        return await v.store.cleanup(_cutoff(days))
    finally:
        await v.db.dispose()


def _cutoff(days: int) -> int:
    return int(time.time()) - days * 86400
