"""Secret valves at rest: sealed with AES-GCM under a key derived from WEBUI_SECRET_KEY.

The API key, the artifact encryption keys, and database / Redis URLs that carry a password.

Open WebUI stores valves as whatever `Valves(**form).model_dump()` returns and shows them back
as stored, so the pipe seals the value in the valve's validator: a typed one is stored (and
shown) as `encrypted:v1:...`, a sealed one passes through untouched, and only the code that
uses it opens it. The associated data names the valve, so a sealed value pasted into another
valve does not open. Open WebUI's own ENABLE_VALVE_ENCRYPTION (whole-valve Fernet) is off by default and
returns the plain key to the admin form; this seal holds either way. The key is derived with
HKDF, not the artifact store's salted scrypt ring (pipe/storage/crypto.py): a valve is validated
synchronously, with no database at hand to hold a salt.
"""

from __future__ import annotations

import base64
import binascii
import os
from urllib.parse import parse_qsl, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .owui import webui_secret_key

SEALED_PREFIX = "encrypted:v1:"
_NONCE_BYTES = 12
API_KEY_VALVE = "API_KEY"


class SealError(Exception):
    """A sealed valve that cannot be opened (WEBUI_SECRET_KEY changed, or the text was edited)."""


def _aead(secret: str) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"openrouter-pipe", info=b"API_KEY valve v1"
    ).derive(secret.encode())
    return AESGCM(key)


def is_sealed(value: str) -> bool:
    return value.startswith(SEALED_PREFIX)


def _valve_aad(name: str) -> bytes:
    """Binds a sealed value to its valve: one pasted into another valve does not open."""
    return b"openrouter-pipe " + name.encode()


def seal(value: str, secret: str | None = None, name: str = API_KEY_VALVE) -> str:
    """`value` sealed for storage; empty and already sealed values are returned as they are.
    Without a WEBUI_SECRET_KEY there is nothing to seal with, and the value stays plain."""
    value = value.strip()
    secret = webui_secret_key() if secret is None else secret
    if not value or is_sealed(value) or not secret:
        return value
    nonce = os.urandom(_NONCE_BYTES)
    sealed = nonce + _aead(secret).encrypt(nonce, value.encode(), _valve_aad(name))
    return SEALED_PREFIX + base64.urlsafe_b64encode(sealed).decode()


def unseal(value: str, secret: str | None = None, name: str = API_KEY_VALVE) -> str:
    """The plain value; plain values (typed before sealing existed) are returned as they are."""
    value = (value or "").strip()
    if not is_sealed(value):
        return value
    what = "the OpenRouter API key" if name == API_KEY_VALVE else f"the {name} value"
    secret = webui_secret_key() if secret is None else secret
    if not secret:
        raise SealError(
            f"The {name} valve is encrypted but WEBUI_SECRET_KEY is not set in this process; "
            f"start Open WebUI with the same WEBUI_SECRET_KEY, or enter {what} again."
        )
    try:
        raw = base64.urlsafe_b64decode(value[len(SEALED_PREFIX) :].encode())
        nonce, ciphertext = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        return _aead(secret).decrypt(nonce, ciphertext, _valve_aad(name)).decode()
    except (InvalidTag, ValueError, binascii.Error) as exc:
        raise SealError(
            f"The {name} valve cannot be decrypted: it was encrypted under a different "
            f"WEBUI_SECRET_KEY (or was edited). Enter {what} again in the pipe's "
            "valves, or restore the previous WEBUI_SECRET_KEY."
        ) from exc


def has_password(url: str) -> bool:
    """Whether a database or Redis URL carries a password (in its user part or its query)."""
    try:
        parts = urlsplit(url.strip())
        return bool(parts.password) or any(
            k.lower() == "password" and v for k, v in parse_qsl(parts.query)
        )
    except ValueError:
        return False


def seal_url(value: str, name: str) -> str:
    """A URL valve as stored: sealed when it carries a password, else readable as typed."""
    value = value.strip()
    return seal(value, name=name) if has_password(value) else value


def masked(value: str) -> str:
    """What logs may say about a key valve."""
    if not value:
        return "(empty)"
    return "encrypted" if is_sealed(value) else "plain text (encrypted on the next save)"
