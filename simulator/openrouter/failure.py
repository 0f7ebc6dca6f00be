"""A generation that fails part-way: the `failed` response with what was produced so far.

OpenRouter reports a mid-generation failure in-band: a streamed `response.failed`, or (for a
non-streaming request) HTTP 200 with `status: "failed"`. Either way the response carries the
output items completed before the failure and the usage (and cost) incurred up to it.
"""

from __future__ import annotations

import copy
from typing import Any

from simulator.openrouter import synth
from simulator.openrouter.physics import DELTA_TYPES
from simulator.openrouter.script import estimate_tokens


def _usage_so_far(final: dict[str, Any] | None, produced: int) -> dict[str, Any] | None:
    if not final:
        return None
    usage = copy.deepcopy(final)
    total_out = max(1, int(final.get("output_tokens") or 0))
    out = min(produced, total_out)
    details = usage.get("cost_details") or {}
    in_cost = float(details.get("upstream_inference_input_cost") or 0.0)
    out_cost = float(details.get("upstream_inference_output_cost") or 0.0) * out / total_out
    usage["output_tokens"] = out
    usage["total_tokens"] = int(final.get("input_tokens") or 0) + out
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens")
    if isinstance(reasoning, int):
        usage["output_tokens_details"]["reasoning_tokens"] = min(reasoning, out)
    if "cost" in usage:
        usage["cost"] = round(in_cost + out_cost, 12)
    if details:
        usage["cost_details"]["upstream_inference_output_cost"] = round(out_cost, 12)
    return usage


def failed_response(
    events: list[dict[str, Any]],
    n: int,
    *,
    code: str | int = "server_error",
    message: str = "Provider returned error",
    error_type: str = "provider_unavailable",
) -> dict[str, Any]:
    """The `response` of a generation that failed after its first `n` events."""
    responses = [e["response"] for e in events if isinstance(e.get("response"), dict)]
    if not responses:
        return synth.failed_event(message=message, code=str(code), error_type=error_type)[
            "response"
        ]
    seen = events[:n]
    output = [
        copy.deepcopy(e["item"])
        for e in seen
        if e.get("type") == "response.output_item.done" and isinstance(e.get("item"), dict)
    ]
    produced = sum(estimate_tokens(e.get("delta")) for e in seen if e.get("type") in DELTA_TYPES)
    resp = copy.deepcopy(responses[0])
    resp.update(
        status="failed",
        output=output,
        output_text=synth.output_text_of(output),
        usage=_usage_so_far(responses[-1].get("usage"), produced),
        error={"code": code, "message": message},
        error_type=error_type,
        incomplete_details=None,
        completed_at=resp.get("created_at"),
    )
    return resp


def failed_event(events: list[dict[str, Any]], n: int, **error: Any) -> dict[str, Any]:
    """`response.failed` after the first `n` events, numbered after them."""
    return {
        "type": "response.failed",
        "sequence_number": n,
        "response": failed_response(events, n, **error),
    }
