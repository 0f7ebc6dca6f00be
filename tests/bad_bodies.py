"""Malformed chat bodies, and what Open WebUI 0.12.4 answers to each (observed on the real
server; tests/openwebui/test_bad_input_differential.py keeps the fake host honest)."""

from __future__ import annotations

import json
from typing import Any


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def bodies(model: str) -> dict[str, bytes]:
    """name -> raw request body for `POST /api/chat/completions`."""

    def chat(**fields: Any) -> bytes:
        return json.dumps({"model": model, "stream": False, **fields}).encode()

    ok = [{"role": "user", "content": "hi"}]
    deep = (
        '{"model": "%s", "stream": false, "messages": [{"role": "user", "content": "hi"}], "x": %s}'
    )
    return {
        "messages_string": chat(messages="hello"),
        "messages_string_stream": chat(messages="hello", stream=True),
        "messages_numbers": chat(messages=[1, 2, 3]),
        "messages_null": chat(messages=None),
        "messages_object": chat(messages={"role": "user"}),
        "message_without_role": chat(messages=[{"content": "hi"}]),
        "body_is_a_list": b"[1, 2]",
        "body_empty": b"",
        "not_json": b"{not json",
        "model_missing": json.dumps({"messages": ok}).encode(),
        "nested_1000_deep": (deep % (model, _deep(1000))).encode(),
        "nested_5000_deep": (deep % (model, _deep(5000))).encode(),
    }


# What the fake host must answer (status, detail); None: any 200 answer.
EXPECTED: dict[str, tuple[int, Any] | None] = {
    "messages_string": (400, "'str' object has no attribute 'get'"),
    "messages_string_stream": (400, "'str' object has no attribute 'get'"),
    "messages_numbers": (400, "'int' object has no attribute 'get'"),
    "messages_null": (400, "'NoneType' object is not iterable"),
    "messages_object": (400, "'str' object has no attribute 'get'"),
    "message_without_role": (400, "'role'"),
    "body_is_a_list": (
        422,
        [
            {
                "type": "dict_type",
                "loc": ["body"],
                "msg": "Input should be a valid dictionary",
                "input": [1, 2],
            }
        ],
    ),
    "body_empty": (
        422,
        [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}],
    ),
    "not_json": (
        422,
        [
            {
                "type": "json_invalid",
                "loc": ["body", 1],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": "Expecting property name enclosed in double quotes"},
            }
        ],
    ),
    "model_missing": (400, "Model not found"),
    "nested_1000_deep": None,
    "nested_5000_deep": (400, "There was an error parsing the body"),
}
