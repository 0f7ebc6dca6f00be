"""Keys and AES-256-GCM for stored artifacts.

A key is derived from a secret (the `ARTIFACT_ENCRYPTION_KEY` valve, else Open WebUI's
`WEBUI_SECRET_KEY`, else a random key file in the data directory) with scrypt and a random
salt stored in the database, so the same secret gives the same key in every worker. Each key
has a public id (an HMAC of the key, revealing nothing about it) recorded on every row; older
keys stay readable by id. The associated data binds a ciphertext to its row (user, chat,
artifact id, item type): a row copied under another user or chat does not decrypt.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..owui import data_dir, webui_secret_key

NONCE_BYTES = 12
KEY_FILE_NAME = "openrouter_pipe.key"
# scrypt cost: ~50 ms once per process and key; a stolen database then costs an attacker
# 2^14 * 8 * 128 bytes of memory-hard work per guessed secret.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1


class ArtifactKeyError(Exception):
    """A row was sealed with a key this process does not have (rotated away or lost)."""


class ArtifactIntegrityError(Exception):
    """A ciphertext does not open: corrupted, forged, or moved to another row."""


@functools.lru_cache(maxsize=16)
def derive_key(secret: str, salt: bytes) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(secret.encode("utf-8"))


def key_id_of(key: bytes) -> str:
    return hmac.new(key, b"openrouter-pipe/key-id", hashlib.sha256).hexdigest()[:16]


def associated_data(user_id: str, chat_id: str, artifact_id: str, item_type: str) -> bytes:
    fields = ("openrouter-pipe/v1", user_id, chat_id, artifact_id, item_type)
    return "\x1f".join(fields).encode("utf-8")


@dataclass
class KeyRing:
    """The current key (seals) and every older key (opens only), by key id."""

    current_id: str
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False)

    @classmethod
    def from_secrets(cls, current: str, older: list[str], salt: bytes) -> KeyRing:
        key = derive_key(current, salt)
        ring = cls(key_id_of(key))
        ring._ciphers[ring.current_id] = AESGCM(key)
        for secret in older:
            old = derive_key(secret, salt)
            ring._ciphers.setdefault(key_id_of(old), AESGCM(old))
        return ring

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    def seal(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        return self.current_id, nonce + self._ciphers[self.current_id].encrypt(
            nonce, plaintext, aad
        )

    def open(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise ArtifactKeyError(key_id)
        if len(blob) < NONCE_BYTES + 16:
            raise ArtifactIntegrityError("ciphertext too short")
        try:
            return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise ArtifactIntegrityError("ciphertext does not authenticate") from exc


def split_secrets(text: str) -> list[str]:
    """Older keys as the valve lists them: separated by commas, spaces or new lines."""
    return [s for s in re.split(r"[,\s]+", text or "") if s]


def key_file_secret(create: bool) -> str:
    """The random secret of `$DATA_DIR/openrouter_pipe.key` (created once, mode 0600, by the
    first process that needs it; the others read that one)."""
    path = Path(data_dir()) / KEY_FILE_NAME
    if not path.exists() and create:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def resolve_secrets(explicit: str, previous: str) -> tuple[str, list[str]]:
    """(current secret, older secrets). With no explicit key, Open WebUI's secret (or the key
    file) seals; with one, those stay readable so switching to an explicit key loses nothing."""
    explicit = (explicit or "").strip()
    webui = webui_secret_key().strip()
    older = split_secrets(previous)
    if explicit:
        current = explicit
        older += [s for s in (webui, key_file_secret(create=False)) if s]
    elif webui:
        current = webui
        older.append(key_file_secret(create=False))
    else:
        current = key_file_secret(create=True)
    if not current:
        raise ArtifactKeyError("no encryption secret is available")
    return current, [s for s in dict.fromkeys(older) if s and s != current]
