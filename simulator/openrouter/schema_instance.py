"""A small JSON value that satisfies a JSON Schema: what the fake answers for a `json_schema`
text format or a forced tool call, so a client that parses the output gets valid JSON."""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 8


def instance_of(schema: Any, hint: str = "", *, _root: Any = None, _depth: int = 0) -> Any:
    """The first enum/const value, else a typed placeholder (strings carry `hint`)."""
    root = _root if _root is not None else schema
    if not isinstance(schema, dict) or _depth > MAX_DEPTH:
        return None
    if "$ref" in schema:
        return instance_of(_ref(root, schema["$ref"]), hint, _root=root, _depth=_depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            typed = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
            return instance_of((typed or options)[0], hint, _root=root, _depth=_depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        return {
            name: instance_of(sub, hint, _root=root, _depth=_depth + 1)
            for name, sub in props.items()
        }
    if kind == "array":
        count = max(1, int(schema.get("minItems") or 1))
        item = instance_of(schema.get("items") or {}, hint, _root=root, _depth=_depth + 1)
        return [item] * count
    if kind == "string":
        text = hint or "text"
        max_len = schema.get("maxLength")
        return text[:max_len] if isinstance(max_len, int) else text
    if kind == "integer":
        return int(schema.get("minimum") or 1)
    if kind == "number":
        return float(schema.get("minimum") or 1.0)
    if kind == "boolean":
        return True
    return None


def _ref(root: Any, ref: str) -> Any:
    if not ref.startswith("#/"):
        return {}
    node = root
    for part in ref[2:].split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node or {}
