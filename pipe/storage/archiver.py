"""Writing a finished request's session journal as an archive, without ever hurting the chat.

`SessionArchiver.save` seals the journal and writes it in the background: a full disk, an
unwritable directory or a dead database costs one warning in the log, never the answer.
Retention runs at most once an hour per process, after a write.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..logs import get_logger
from .archives import ArchiveBackend, ArchiveMeta, archive_meta, key_ring, seal_archive
from .crypto import KeyRing

WRITE_TIMEOUT_SECONDS = 10.0
CLEANUP_INTERVAL_SECONDS = 3600.0


class SessionArchiver:
    def __init__(self, backend: ArchiveBackend, secret: str, older: list[str]) -> None:
        self.backend = backend
        self._secret = secret
        self._older = older
        self._keys: KeyRing | None = None
        self._next_cleanup = 0.0

    async def keys(self) -> KeyRing:
        if self._keys is None:
            self._keys = await key_ring(await self.backend.salt(), self._secret, self._older)
        return self._keys

    async def save(
        self, journal: Any, ids: dict[str, str], retention_days: int
    ) -> ArchiveMeta | None:
        try:
            document = journal.snapshot(ids)
            meta = archive_meta(ids, journal.model, journal.outcome)
            meta, blob = seal_archive(await self.keys(), meta, document)
            await asyncio.wait_for(self.backend.write(meta, blob), WRITE_TIMEOUT_SECONDS)
        except Exception as exc:  # the chat already answered: never let this reach it
            get_logger().warning(
                "session log for request %s not written to %s: %s: %s",
                ids.get("request_id"),
                self.backend.label,
                type(exc).__name__,
                str(exc)[:300],
            )
            return None
        await self._maybe_cleanup(retention_days)
        return meta

    async def _maybe_cleanup(self, retention_days: int) -> None:
        now = time.time()
        if now < self._next_cleanup:
            return
        self._next_cleanup = now + CLEANUP_INTERVAL_SECONDS
        try:
            removed = await self.backend.cleanup(int(now - retention_days * 86400))
        except Exception as exc:
            get_logger().warning("session log cleanup failed: %s", type(exc).__name__)
            return
        if removed:
            get_logger().info(
                "session logs: removed %d archives older than %d days", removed, retention_days
            )
