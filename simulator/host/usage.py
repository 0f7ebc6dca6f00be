"""Usage accounting as Open WebUI 0.12.4 stores it (`utils/response.py`).

`normalize_usage` adds `input_tokens`/`output_tokens`/`total_tokens` aliases; `merge_usage`
adds the canonical token and cost fields of successive usage payloads.
"""

from __future__ import annotations

from numbers import Number
from typing import Any

TOKEN_KEYS = {"input_tokens", "output_tokens", "total_tokens"}
COST_KEYS = {"cost", "total_cost", "input_cost", "output_cost", "prompt_cost", "completion_cost"}
SUMMABLE_KEYS = TOKEN_KEYS | COST_KEYS
DETAIL_KEYS = {
    "prompt_tokens_details",
    "completion_tokens_details",
    "input_tokens_details",
    "output_tokens_details",
}


def _numeric(value: Any) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def normalize_usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    if not usage:
        return {}
    input_tokens = (
        usage.get("input_tokens") or usage.get("prompt_tokens") or usage.get("prompt_eval_count")
    )
    if input_tokens is None:
        input_tokens = int(usage.get("prompt_n") or 0) + int(usage.get("cache_n") or 0)
    output_tokens = (
        usage.get("output_tokens")
        or usage.get("completion_tokens")
        or usage.get("eval_count")
        or usage.get("predicted_n")
        or 0
    )
    total_tokens = usage.get("total_tokens") or (input_tokens + output_tokens)
    result = dict(usage)
    result["input_tokens"] = int(input_tokens)
    result["output_tokens"] = int(output_tokens)
    result["total_tokens"] = int(total_tokens)
    return result


def _merge_numeric_map(current: dict | None, incoming: dict | None) -> dict:
    current, incoming = current or {}, incoming or {}
    result = {**current, **incoming}
    for key in set(current) | set(incoming):
        a, b = current.get(key, 0), incoming.get(key, 0)
        if isinstance(a, dict) or isinstance(b, dict):
            result[key] = _merge_numeric_map(
                a if isinstance(a, dict) else {}, b if isinstance(b, dict) else {}
            )
        elif _numeric(a) or _numeric(b):
            result[key] = (a if _numeric(a) else 0) + (b if _numeric(b) else 0)
    return result


def merge_usage(current: dict | None, incoming: dict | None) -> dict[str, Any]:
    cur = normalize_usage(current or {}) if current else {}
    inc = normalize_usage(incoming or {}) if incoming else {}
    if not inc:
        return cur
    if not cur:
        return inc
    result = {**cur, **inc}
    for key in SUMMABLE_KEYS:
        if key in cur or key in inc:
            a, b = cur.get(key, 0), inc.get(key, 0)
            if _numeric(a) or _numeric(b):
                result[key] = (a if _numeric(a) else 0) + (b if _numeric(b) else 0)
    for key in DETAIL_KEYS:
        if isinstance(cur.get(key), dict) or isinstance(inc.get(key), dict):
            result[key] = _merge_numeric_map(
                cur.get(key) if isinstance(cur.get(key), dict) else {},
                inc.get(key) if isinstance(inc.get(key), dict) else {},
            )
    result["prompt_tokens"] = (
        inc.get("prompt_tokens") or inc.get("input_tokens") or cur.get("prompt_tokens", 0)
    )
    result["completion_tokens"] = (
        inc.get("completion_tokens") or inc.get("output_tokens") or cur.get("completion_tokens", 0)
    )
    return result
