"""The API key valve at rest: sealed with AES-GCM under a key derived from WEBUI_SECRET_KEY.

Open WebUI stores valves as whatever `Valves(**form).model_dump()` returns and shows them back
as stored, so the pipe seals the key in the valve's validator: a typed key is stored (and shown)
as `encrypted:v1:...`, a sealed one passes through untouched, and only the request that uses it
opens it. Open WebUI's own ENABLE_VALVE_ENCRYPTION (whole-valve Fernet) is off by default and
returns the plain key to the admin form; this seal holds either way. The key is derived with
HKDF, not the artifact store's salted scrypt ring (pipe/storage/crypto.py): a valve is validated
synchronously, with no database at hand to hold a salt.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .owui import webui_secret_key

SEALED_PREFIX = "encrypted:v1:"
_NONCE_BYTES = 12
_AAD = b"openrouter-pipe API_KEY"


class SealError(Exception):
    """A sealed valve that cannot be opened (WEBUI_SECRET_KEY changed, or the text was edited)."""


def _aead(secret: str) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"openrouter-pipe", info=b"API_KEY valve v1"
    ).derive(secret.encode())
    return AESGCM(key)


def is_sealed(value: str) -> bool:
    return value.startswith(SEALED_PREFIX)


def seal(value: str, secret: str | None = None) -> str:
    """`value` sealed for storage; empty and already sealed values are returned as they are.
    Without a WEBUI_SECRET_KEY there is nothing to seal with, and the value stays plain."""
    value = value.strip()
    secret = webui_secret_key() if secret is None else secret
    if not value or is_sealed(value) or not secret:
        return value
    nonce = os.urandom(_NONCE_BYTES)
    sealed = nonce + _aead(secret).encrypt(nonce, value.encode(), _AAD)
    return SEALED_PREFIX + base64.urlsafe_b64encode(sealed).decode()


def unseal(value: str, secret: str | None = None) -> str:
    """The plain key; plain values (typed before sealing existed) are returned as they are."""
    if not is_sealed(value):
        return value
    secret = webui_secret_key() if secret is None else secret
    if not secret:
        raise SealError(
            "The API_KEY valve is encrypted but WEBUI_SECRET_KEY is not set in this process; "
            "start Open WebUI with the same WEBUI_SECRET_KEY, or enter the API key again."
        )
    try:
        raw = base64.urlsafe_b64decode(value[len(SEALED_PREFIX) :].encode())
        nonce, ciphertext = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        return _aead(secret).decrypt(nonce, ciphertext, _AAD).decode()
    except (InvalidTag, ValueError, binascii.Error) as exc:
        raise SealError(
            "The API_KEY valve cannot be decrypted: it was encrypted under a different "
            "WEBUI_SECRET_KEY (or was edited). Enter the OpenRouter API key again in the pipe's "
            "valves, or restore the previous WEBUI_SECRET_KEY."
        ) from exc


def masked(value: str) -> str:
    """What logs may say about a key valve."""
    if not value:
        return "(empty)"
    return "encrypted" if is_sealed(value) else "plain text (encrypted on the next save)"
