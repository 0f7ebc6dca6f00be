"""Session-log archives: one encrypted archive per request, in the database or a directory.

An archive is the journal's redacted JSON, zstd-compressed and sealed with the artifact store's
AES-GCM key ring (pipe/storage/crypto.py) bound to its user, chat and id, so a copied archive
does not open under another row. The database backend (default: Open WebUI's own database) lets
every worker write and read; the directory backend writes `<dir>/<user>/<chat>/<id>.orslog`
with sanitised names and an atomic rename. The ids, model and outcome stay readable without the
key, so an operator can list archives before opening one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
import zstandard
from sqlalchemy import delete, insert, select

from .crypto import KeyRing, associated_data
from .database import Database
from .schema import session_logs_table

ARCHIVE_ITEM_TYPE = "session_log"
ARCHIVE_SUFFIX = ".orslog"
MAX_ARCHIVE_PLAINTEXT = 64 * 1024 * 1024  # a decompression bomb stops here
_ID = re.compile(r"[0-9a-f]{32}")
_SAFE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")


class ArchiveError(Exception):
    """An archive that does not exist, is not an archive id, or does not open."""


@dataclass(frozen=True)
class ArchiveMeta:
    id: str
    user_id: str
    chat_id: str
    message_id: str
    request_id: str
    model: str
    outcome: str
    key_id: str
    size: int
    created_at: int


def new_archive_id() -> str:
    return secrets.token_hex(16)


def check_archive_id(archive_id: str) -> str:
    if not _ID.fullmatch(archive_id or ""):
        raise ArchiveError(f"not an archive id: {archive_id[:80]!r}")
    return archive_id


def safe_name(value: str) -> str:
    """A path component that cannot climb out of its directory ('..', '/', NUL, hidden)."""
    if _SAFE.fullmatch(value) and value not in (".", ".."):
        return value
    return "h-" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]


def _aad(meta: ArchiveMeta) -> bytes:
    return associated_data(meta.user_id, meta.chat_id, meta.id, ARCHIVE_ITEM_TYPE)


def seal_archive(keys: KeyRing, meta: ArchiveMeta, document: bytes) -> tuple[ArchiveMeta, bytes]:
    packed = zstandard.ZstdCompressor(level=3).compress(document)
    key_id, blob = keys.seal(packed, _aad(meta))
    return ArchiveMeta(**{**asdict(meta), "key_id": key_id, "size": len(document)}), blob


def open_archive(keys: KeyRing, meta: ArchiveMeta, blob: bytes) -> bytes:
    """The archive's JSON; raises ArtifactKeyError/ArtifactIntegrityError on the wrong key."""
    packed = keys.open(meta.key_id, blob, _aad(meta))
    try:
        return zstandard.ZstdDecompressor().decompress(
            packed, max_output_size=MAX_ARCHIVE_PLAINTEXT
        )
    except zstandard.ZstdError as exc:
        raise ArchiveError(f"archive {meta.id}: bad compressed payload") from exc


async def key_ring(salt: bytes, secret: str, older: list[str]) -> KeyRing:
    return await asyncio.to_thread(KeyRing.from_secrets, secret, older, salt)


class DatabaseArchives:
    """Archives as rows of `openrouter_pipe_session_logs` (several workers, one database)."""

    def __init__(self, database: Database) -> None:
        self.db = database
        self.label = database.label

    async def salt(self) -> bytes:
        await self.db.ready()
        text = await self.db.meta_value("kdf_salt", base64.b64encode(os.urandom(16)).decode())
        return base64.b64decode(text)

    async def write(self, meta: ArchiveMeta, blob: bytes) -> None:
        await self.db.ready()
        async with self.db.engine.begin() as conn:
            await conn.execute(insert(session_logs_table).values(**asdict(meta), payload=blob))

    async def list(
        self, *, chat_id: str = "", user_id: str = "", since: int = 0, limit: int = 100
    ) -> list[ArchiveMeta]:
        await self.db.ready()
        t = session_logs_table
        query = select(*[t.c[name] for name in ArchiveMeta.__dataclass_fields__])
        if chat_id:
            query = query.where(t.c.chat_id == chat_id)
        if user_id:
            query = query.where(t.c.user_id == user_id)
        if since:
            query = query.where(t.c.created_at >= since)
        query = query.order_by(t.c.created_at.desc()).limit(limit)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [ArchiveMeta(**row._mapping) for row in rows]

    async def read(self, archive_id: str) -> tuple[ArchiveMeta, bytes]:
        check_archive_id(archive_id)
        await self.db.ready()
        t = session_logs_table
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.id == archive_id))).first()
        if row is None:
            raise ArchiveError(f"no archive {archive_id} in {self.label}")
        values = dict(row._mapping)
        blob = bytes(values.pop("payload"))
        return ArchiveMeta(**values), blob

    async def cleanup(self, older_than: int) -> int:
        await self.db.ready()
        t = session_logs_table
        async with self.db.engine.begin() as conn:
            result = await conn.execute(delete(t).where(t.c.created_at < older_than))
        return int(result.rowcount or 0)


class DirectoryArchives:
    """Archives as files: a JSON header line (readable ids) and the sealed blob."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.label = str(self.root)

    async def salt(self) -> bytes:
        return await asyncio.to_thread(self._salt)

    def _salt(self) -> bytes:
        path = self.root / ".kdf_salt"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another worker created it first: use theirs
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(base64.b64encode(os.urandom(16)).decode())
        return base64.b64decode(path.read_text().strip())

    def _path(self, meta: ArchiveMeta) -> Path:
        return (
            self.root
            / safe_name(meta.user_id or "-")
            / safe_name(meta.chat_id or "-")
            / (check_archive_id(meta.id) + ARCHIVE_SUFFIX)
        )

    async def write(self, meta: ArchiveMeta, blob: bytes) -> None:
        await asyncio.to_thread(self._write, meta, blob)

    def _write(self, meta: ArchiveMeta, blob: bytes) -> None:
        path = self._path(meta)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "wb") as handle:
                handle.write(orjson.dumps(asdict(meta)) + b"\n" + blob)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)  # readers see the whole archive or none of it
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _load(path: Path) -> tuple[ArchiveMeta, bytes]:
        head, _, blob = path.read_bytes().partition(b"\n")
        try:
            return ArchiveMeta(**orjson.loads(head)), blob
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise ArchiveError(f"{path.name} is not a session-log archive") from exc

    async def list(
        self, *, chat_id: str = "", user_id: str = "", since: int = 0, limit: int = 100
    ) -> list[ArchiveMeta]:
        def scan() -> list[ArchiveMeta]:
            found = []
            for path in self.root.glob(f"*/*/*{ARCHIVE_SUFFIX}"):
                try:
                    meta = self._load(path)[0]
                except (ArchiveError, OSError):
                    continue
                if (chat_id and meta.chat_id != chat_id) or (user_id and meta.user_id != user_id):
                    continue
                if meta.created_at >= since:
                    found.append(meta)
            return sorted(found, key=lambda m: m.created_at, reverse=True)[:limit]

        return await asyncio.to_thread(scan)

    async def read(self, archive_id: str) -> tuple[ArchiveMeta, bytes]:
        check_archive_id(archive_id)
        matches = list(self.root.glob(f"*/*/{archive_id}{ARCHIVE_SUFFIX}"))
        if not matches:
            raise ArchiveError(f"no archive {archive_id} in {self.label}")
        return await asyncio.to_thread(self._load, matches[0])

    async def cleanup(self, older_than: int) -> int:
        def sweep() -> int:
            removed = 0
            for path in self.root.glob(f"*/*/*{ARCHIVE_SUFFIX}"):
                try:
                    if path.stat().st_mtime < older_than:
                        path.unlink()
                        removed += 1
                except OSError:
                    continue
            return removed

        return await asyncio.to_thread(sweep)


ArchiveBackend = DatabaseArchives | DirectoryArchives


def archive_meta(ids: dict[str, str], model: str, outcome: str) -> ArchiveMeta:
    return ArchiveMeta(
        id=new_archive_id(),
        user_id=ids.get("user_id", ""),
        chat_id=ids.get("chat_id", ""),
        message_id=ids.get("message_id", ""),
        request_id=ids.get("request_id", ""),
        model=model[:255],
        outcome=outcome,
        key_id="",
        size=0,
        created_at=int(time.time()),
    )
