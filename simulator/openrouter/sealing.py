"""`encrypted_content` the fake can verify, and the 400 the real service gives when it cannot.

A sealed blob names the reasoning item it belongs to and carries an HMAC over it under a key
only the fake knows, like the provider's own encryption: a blob that is corrupted, foreign
(sealed by someone else) or replayed under another item id is refused with OpenAI's
`invalid_encrypted_content` error as OpenRouter passes it on. So a client that loses a
reasoning item's id, or mixes blobs between items, fails here as it would live.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from simulator.openrouter.errors import SimHTTPError

PREFIX = "orsim-enc-v1."
_KEY = b"orsim fake provider reasoning key"
MISMATCH = "Encrypted content item_id did not match the target item id."
UNVERIFIED = "The encrypted content for item {item_id} could not be verified."


def seal(item_id: str, reasoning: str) -> str:
    body = json.dumps({"id": item_id, "r": hashlib.sha256(reasoning.encode()).hexdigest()[:16]})
    encoded = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    tag = hmac.new(_KEY, encoded.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{PREFIX}{encoded}.{tag}"


def sealed_item_id(blob: str) -> str | None:
    """The item id a blob was sealed for, or None when it is not an intact blob of ours."""
    if not blob.startswith(PREFIX):
        return None
    encoded, _, tag = blob[len(PREFIX) :].rpartition(".")
    expected = hmac.new(_KEY, encoded.encode(), hashlib.sha256).hexdigest()[:32]
    if not encoded or not hmac.compare_digest(tag, expected):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError:
        return None
    item_id = body.get("id") if isinstance(body, dict) else None
    return item_id if isinstance(item_id, str) else None


def invalid_encrypted_content(message: str, param: str) -> SimHTTPError:
    raw = {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": "invalid_encrypted_content",
        }
    }
    return SimHTTPError(
        400,
        message,
        error_type="invalid_request",
        metadata={"provider_name": "OpenAI", "raw": json.dumps(raw)},
    )


def check_reasoning_item(item: dict[str, Any], where: str) -> None:
    """A replayed reasoning item's blob must be ours and sealed for this very item id."""
    blob = item.get("encrypted_content")
    if blob is None:
        return
    item_id = item.get("id")
    sealed_for = sealed_item_id(blob) if isinstance(blob, str) else None
    if sealed_for is None:
        raise invalid_encrypted_content(
            UNVERIFIED.format(item_id=item_id), f"{where}.encrypted_content"
        )
    if sealed_for != item_id:
        raise invalid_encrypted_content(MISMATCH, f"{where}.encrypted_content")
