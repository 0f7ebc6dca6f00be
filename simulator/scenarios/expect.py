"""Partial matching of JSON-like values, with failures that say where and what differed."""

from __future__ import annotations

import json
from typing import Any

ANY = "<any>"  # in an expectation: any value, as long as the key exists


def _show(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def subset_diff(expected: Any, actual: Any, path: str = "$") -> str | None:
    """The first difference between `expected` (a partial shape) and `actual`, or None.

    Dicts match when every expected key matches; lists match element-wise and must have the
    same length; strings wrapped as `"~text"` match when `text` is a substring; `"<any>"`
    matches anything present.
    """
    if expected == ANY:
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {_show(actual)}"
        for key, value in expected.items():
            if key not in actual:
                return f"{path}.{key}: missing (expected {_show(value)})"
            diff = subset_diff(value, actual[key], f"{path}.{key}")
            if diff:
                return diff
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{path}: expected a list, got {_show(actual)}"
        if len(expected) != len(actual):
            return f"{path}: expected {len(expected)} items, got {len(actual)}: {_show(actual)}"
        for i, (exp, act) in enumerate(zip(expected, actual, strict=True)):
            diff = subset_diff(exp, act, f"{path}[{i}]")
            if diff:
                return diff
        return None
    if isinstance(expected, str) and expected.startswith("~"):
        if isinstance(actual, str) and expected[1:] in actual:
            return None
        return f"{path}: expected text containing {expected[1:]!r}, got {_show(actual)}"
    if expected != actual:
        return f"{path}: expected {_show(expected)}, got {_show(actual)}"
    return None


def find_item(expected: dict[str, Any], items: list[Any]) -> bool:
    return any(subset_diff(expected, item) is None for item in items)


def get_path(data: Any, dotted: str) -> tuple[bool, Any]:
    """(present, value) for a dotted path such as `reasoning.effort` or `input.0.role`."""
    current = data
    for part in dotted.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return False, None
    return True, current
