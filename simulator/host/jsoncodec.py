"""Open WebUI 0.12.4's JSON codec (`utils/json_codec.py`, `utils/json_response.py`).

`ENABLE_ORJSON` defaults to true, so SSE lines are compact orjson with the three line
separators escaped, and JSON responses are plain `orjson.dumps`. What orjson rejects falls
back to stdlib json with stdlib formatting, as Open WebUI does.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(obj: Any) -> str:
    """`JSONCodec.dumps(obj)`: what Open WebUI writes after `data: `."""
    try:
        serialized = orjson.dumps(obj).decode("utf-8")
    except (TypeError, ValueError):
        return json.dumps(obj)
    if "\u2028" in serialized or "\u2029" in serialized or "\x85" in serialized:
        return (
            serialized.replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
            .replace("\x85", "\\u0085")
        )
    return serialized


def response_bytes(content: Any) -> bytes:
    """A `JSONResponse` body under `apply_orjson_http_json`."""
    try:
        return orjson.dumps(content)
    except (TypeError, ValueError):
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("utf-8")
