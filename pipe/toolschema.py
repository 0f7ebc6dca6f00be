"""JSON schemas of tools: strict-mode normalisation and argument checks.

Strict function calling (OpenAI structured outputs) requires every object to list all its
properties as required and to forbid additional ones. A property that was optional becomes
nullable instead, and the model sends `null` for it; `StrictSchema.optional` remembers those
top-level names so the loop can drop such `null`s before calling the tool (its own default
then applies). A schema that cannot be expressed strictly (free-form objects, `oneOf`,
`allOf`, `not`, conditionals, untyped nodes) is sent unchanged and non-strict.

`argument_problems` checks decoded arguments against the tool's own (original) schema: types,
required properties, enums, and unknown properties where the schema forbids them. It covers
what the model can get wrong in practice; it is not a full JSON Schema validator.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .wire import json_object

# Keywords strict mode cannot express; a schema using them is sent non-strict.
NON_STRICT_KEYWORDS = frozenset(
    {"allOf", "oneOf", "not", "if", "then", "else", "patternProperties", "dependentRequired"}
)
MAX_PROBLEMS = 5


class NotStrictable(ValueError):
    """The schema cannot be made strict; send it as it is."""


@dataclass(frozen=True)
class StrictSchema:
    schema: dict[str, Any]
    optional: frozenset[str]  # top-level properties that were optional (now nullable)


def strict_schema(parameters: dict[str, Any] | None) -> StrictSchema | None:
    """The strict form of a tool's parameters, or None when it cannot be made strict."""
    root = copy.deepcopy(parameters) if parameters else {"type": "object", "properties": {}}
    if not isinstance(root, dict):
        return None
    optional = frozenset(
        name
        for name in (root.get("properties") or {})
        if name not in set(root.get("required") or [])
    )
    try:
        _infer_type(root)
        if root.get("type") != "object":
            raise NotStrictable("the root must be an object")
        _strictify(root)
        for key in ("$defs", "definitions"):
            for sub in json_object(root.get(key)).values():
                if isinstance(sub, dict):
                    _strictify(sub)
    except NotStrictable:
        return None
    return StrictSchema(root, optional)


def _infer_type(node: dict[str, Any]) -> None:
    if "type" in node or "$ref" in node or "anyOf" in node or "enum" in node or "const" in node:
        return
    if "properties" in node:
        node["type"] = "object"
    elif "items" in node:
        node["type"] = "array"
    else:
        raise NotStrictable("a node without a type")


def _types(node: dict[str, Any]) -> list[str]:
    kind = node.get("type")
    return [kind] if isinstance(kind, str) else list(kind) if isinstance(kind, list) else []


def _strictify(node: dict[str, Any]) -> None:
    if NON_STRICT_KEYWORDS & node.keys():
        raise NotStrictable(f"unsupported keywords {sorted(NON_STRICT_KEYWORDS & node.keys())}")
    _infer_type(node)
    for sub in node.get("anyOf") or []:
        if isinstance(sub, dict):
            _strictify(sub)
    kinds = _types(node)
    if "object" in kinds:
        extra = node.get("additionalProperties")
        if extra not in (None, False):
            raise NotStrictable("a free-form object (additionalProperties)")
        props = node.setdefault("properties", {})
        required = set(node.get("required") or [])
        for name, sub in props.items():
            if not isinstance(sub, dict):
                raise NotStrictable(f"property {name!r} has no schema")
            _strictify(sub)
            if name not in required:
                _make_nullable(sub)
        node["required"] = list(props)
        node["additionalProperties"] = False
    if "array" in kinds and isinstance(node.get("items"), dict):
        _strictify(node["items"])


def _make_nullable(node: dict[str, Any]) -> None:
    if "$ref" in node:
        ref = {"$ref": node.pop("$ref")}
        node["anyOf"] = [ref, {"type": "null"}]
        return
    if "anyOf" in node:
        if not any(isinstance(s, dict) and s.get("type") == "null" for s in node["anyOf"]):
            node["anyOf"].append({"type": "null"})
        return
    kinds = _types(node)
    if kinds and "null" not in kinds:
        node["type"] = [*kinds, "null"]
    if isinstance(node.get("enum"), list) and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]


# ---------------------------------------------------------------- argument checks

_JSON_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def argument_problems(args: Any, schema: dict[str, Any] | None) -> list[str]:
    """Human-readable problems of `args` against `schema` (empty when they fit)."""
    problems: list[str] = []
    _check(args, schema or {}, "arguments", problems)
    return problems[:MAX_PROBLEMS]


def _check(value: Any, schema: Any, where: str, problems: list[str]) -> None:
    if not isinstance(schema, dict) or len(problems) >= MAX_PROBLEMS:
        return
    kinds = [k for k in _types(schema) if k in _JSON_CHECKS]
    if kinds and not any(_JSON_CHECKS[k](value) for k in kinds):
        problems.append(f"{where} must be {' or '.join(kinds)}, got {_json_type(value)}")
        return
    if isinstance(schema.get("enum"), list) and value not in schema["enum"]:
        problems.append(f"{where} must be one of {schema['enum']!r}, got {value!r}")
    if isinstance(value, dict):
        props = json_object(schema.get("properties"))
        for name in schema.get("required") or []:
            if name not in value:
                problems.append(f"missing required property '{name}' in {where}")
        for name, item in value.items():
            if name in props:
                _check(item, props[name], f"{where}.{name}", problems)
            elif schema.get("additionalProperties") is False:
                problems.append(f"unexpected property '{name}' in {where}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for n, item in enumerate(value):
            _check(item, schema["items"], f"{where}[{n}]", problems)


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _JSON_CHECKS[name](value):
            return name
    return type(value).__name__
