"""An artifact in the clear (`Artifact`) and as stored (`ArtifactRow`), and the way between.

Sealing: compact JSON -> zstandard (kept only when it makes the payload smaller) -> AES-256-GCM
bound to the row. The row's `codec` flags say which steps were applied, so rows written with
other settings stay readable.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, fields
from typing import Any

import orjson
import zstandard

from .crypto import KeyRing, associated_data

CODEC_ZSTD = 1
CODEC_AESGCM = 2
COMPRESS_MIN_BYTES = 128
ZSTD_LEVEL = 3
MAX_PLAINTEXT_BYTES = 64 * 1024 * 1024  # a decompression bomb stops here


IDENTITY_FIELDS = ("id", "user_id", "chat_id", "message_id", "model_id", "item_type")


def new_artifact_id() -> str:
    """128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


@dataclass
class Artifact:
    """One stored Responses item in the clear. `offset` counts the visible non-space characters
    of its assistant message that came before it (where replay puts it back)."""

    id: str
    user_id: str
    chat_id: str
    message_id: str
    model_id: str
    item_type: str
    item: dict[str, Any]
    offset: int = 0
    created_at: int = field(default_factory=lambda: int(time.time()))


@dataclass(frozen=True)
class ArtifactRow:
    """One row as the database (or a cache in front of it) holds it."""

    id: str
    user_id: str
    chat_id: str
    message_id: str
    model_id: str
    item_type: str
    key_id: str
    codec: int
    payload: bytes
    created_at: int
    last_used: int

    def as_values(self) -> dict[str, Any]:
        """The row as column values (the table's columns are these fields)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class ArtifactCodec:
    """Seals artifacts into rows and opens rows with a key ring."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self._decompressor = zstandard.ZstdDecompressor()

    def seal(self, artifact: Artifact) -> ArtifactRow:
        return self.seal_sized(artifact)[0]

    def seal_sized(self, artifact: Artifact) -> tuple[ArtifactRow, int]:
        """The row, and the size of the artifact's JSON (what keeping it in memory costs)."""
        plain = orjson.dumps({"item": artifact.item, "offset": artifact.offset})
        size = len(plain)
        codec = CODEC_AESGCM
        if len(plain) >= COMPRESS_MIN_BYTES:
            packed = self._compressor.compress(plain)
            if len(packed) < len(plain):
                plain, codec = packed, codec | CODEC_ZSTD
        aad = associated_data(artifact.user_id, artifact.chat_id, artifact.id, artifact.item_type)
        key_id, blob = self.keys.seal(plain, aad)
        row = ArtifactRow(
            **_identity(artifact),
            key_id=key_id,
            codec=codec,
            payload=blob,
            created_at=artifact.created_at,
            last_used=artifact.created_at,
        )
        return row, size

    def open(self, row: ArtifactRow) -> Artifact:
        """Raises ArtifactKeyError / ArtifactIntegrityError (crypto) or ValueError (payload)."""
        return self.open_sized(row)[0]

    def open_sized(self, row: ArtifactRow) -> tuple[Artifact, int]:
        """The artifact, and the size of its JSON; raises as `open` does."""
        data = bytes(row.payload)
        if row.codec & CODEC_AESGCM:
            aad = associated_data(row.user_id, row.chat_id, row.id, row.item_type)
            data = self.keys.open(row.key_id, data, aad)
        if row.codec & CODEC_ZSTD:
            try:
                data = self._decompressor.decompress(data, max_output_size=MAX_PLAINTEXT_BYTES)
            except zstandard.ZstdError as exc:
                raise ValueError(f"artifact {row.id}: bad compressed payload") from exc
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"artifact {row.id}: payload is not JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get("item"), dict):
            raise ValueError(f"artifact {row.id}: payload has no item")
        offset = body.get("offset")
        artifact = Artifact(
            row.id,
            row.user_id,
            row.chat_id,
            row.message_id,
            row.model_id,
            row.item_type,
            body["item"],
            offset if isinstance(offset, int) and offset >= 0 else 0,
            row.created_at,
        )
        return artifact, len(data)

    def reseal(self, row: ArtifactRow) -> ArtifactRow:
        """The same artifact sealed with the current key (key rotation)."""
        fresh = self.seal(self.open(row))
        return ArtifactRow(**{**fresh.as_values(), "last_used": row.last_used})


def _identity(source: Artifact | ArtifactRow) -> dict[str, str]:
    """Who and what an artifact is: the fields a row and its clear form share."""
    return {name: getattr(source, name) for name in IDENTITY_FIELDS}
