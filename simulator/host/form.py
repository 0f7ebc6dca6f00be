"""Request bodies as Open WebUI 0.12.4 (FastAPI) reads them, bad ones included.

Open WebUI parses with orjson (nesting up to 1,024 deep) and falls back to the stdlib's
`json.loads` for what orjson refuses, which FastAPI then reports: invalid JSON is a 422 `json_invalid`
with the error's position, JSON that cannot be parsed at all (e.g. nested 5,000 deep, which
exhausts Python's recursion limit) is a 400 "There was an error parsing the body", an empty
body is a 422 `missing`, and a body that is not an object is a 422 `dict_type` (the endpoints
take `form_data: dict`). Checked against the real server by
tests/openwebui/test_bad_input_differential.py.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


class FormError(Exception):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


def parse_form(raw: bytes) -> dict[str, Any]:
    """The endpoint's `form_data`, or FormError with FastAPI's status and detail."""
    if not raw:
        raise FormError(
            422, [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
        )
    try:
        payload = orjson.loads(raw)
    except (TypeError, ValueError):
        payload = _stdlib_loads(raw)
    if not isinstance(payload, dict):
        raise FormError(
            422,
            [
                {
                    "type": "dict_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary",
                    "input": payload,
                }
            ],
        )
    return payload


def _stdlib_loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise FormError(
            422,
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", exc.pos],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ],
        ) from exc
    except (RecursionError, ValueError) as exc:
        raise FormError(400, "There was an error parsing the body") from exc
