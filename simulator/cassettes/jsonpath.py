"""Dotted JSON paths with `*` wildcards (`metadata.session_id`, `input.*.id`, `tools.0.name`).

A segment names a mapping key or a list index; `*` matches every key or index at that level.
Used to ignore volatile fields when matching and to redact fields when recording.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

_MISSING = object()


def split_path(path: str) -> tuple[str, ...]:
    parts = tuple(path.split("."))
    if not path or any(part == "" for part in parts):
        raise ValueError(f"bad JSON path {path!r}: use dotted names such as `metadata.session_id`")
    return parts


def _apply(node: Any, parts: tuple[str, ...], action: Callable[[Any, Any], None]) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head] if head in node else []
    elif isinstance(node, list):
        if head == "*":
            keys = list(range(len(node)))
        elif head.isdigit() and int(head) < len(node):
            keys = [int(head)]
        else:
            keys = []
    else:
        return
    for key in keys:
        if rest:
            _apply(node[key], rest, action)
        else:
            action(node, key)


def without_paths(value: Any, paths: Iterable[str]) -> Any:
    """A deep copy of `value` with every field at `paths` removed (list items become absent
    from dicts only; a list element matched by a path is replaced by None to keep positions)."""
    result = copy.deepcopy(value)

    def drop(container: Any, key: Any) -> None:
        if isinstance(container, dict):
            container.pop(key, None)
        else:
            container[key] = None

    for path in paths:
        _apply(result, split_path(path), drop)
    return result


def replace_paths(value: Any, paths: Iterable[str], replacement: Any) -> tuple[Any, int]:
    """A deep copy of `value` with every field at `paths` set to `replacement`, and the count."""
    result = copy.deepcopy(value)
    count = 0

    def put(container: Any, key: Any) -> None:
        nonlocal count
        container[key] = replacement
        count += 1

    for path in paths:
        _apply(result, split_path(path), put)
    return result, count


def first_difference(expected: Any, got: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first place two JSON values differ, as (dotted path, expected, got); None if equal.
    A missing key shows as `<missing>`."""
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in sorted(set(expected) | set(got), key=str):
            sub = f"{path}.{key}" if path else str(key)
            a, b = expected.get(key, _MISSING), got.get(key, _MISSING)
            if a is _MISSING or b is _MISSING:
                return sub, _show(a), _show(b)
            found = first_difference(a, b, sub)
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(got, list):
        for index, (a, b) in enumerate(zip(expected, got, strict=False)):
            found = first_difference(a, b, f"{path}.{index}" if path else str(index))
            if found:
                return found
        if len(expected) != len(got):
            return (path or "(root)") + ".length", len(expected), len(got)
        return None
    if expected != got or type(expected) is not type(got):
        return path or "(root)", expected, got
    return None


def _show(value: Any) -> Any:
    return "<missing>" if value is _MISSING else value
