"""What the fake answers with: the default echo script, queued specs turned into event lists
or JSON bodies, and the request fields a real response echoes back."""

from __future__ import annotations

from typing import Any

from simulator.openrouter import default_answer, synth
from simulator.openrouter.errors import SimHTTPError, generic_envelope
from simulator.openrouter.faults import SCRIPT_STYLE, Fault
from simulator.openrouter.features import Decision, web_citations
from simulator.openrouter.state import QueueSpec
from simulator.openrouter.synth import Script
from simulator.openrouter.validation import ResponsesRequest, last_user_text

ECHOED_FIELDS = (
    "instructions",
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "max_output_tokens",
    "tool_choice",
    "parallel_tool_calls",
    "metadata",
    "reasoning",
    "text",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "service_tier",
    "truncation",
)


def apply_script_faults(script: Script, faults: list[Fault]) -> Script:
    """`late_reasoning` / `summary_in_done` change how the reasoning item streams; they add a
    reasoning text if the script had none so the fault always shows."""
    for f in faults:
        if f.kind in SCRIPT_STYLE:
            script = script.model_copy(
                update={
                    "reasoning_style": SCRIPT_STYLE[f.kind],
                    "reasoning": script.reasoning or "Thinking it through step by step.",
                }
            )
    return script


def spec_script(
    spec: QueueSpec,
    req: ResponsesRequest,
    model: dict[str, Any] | None = None,
    seed: int | str | None = None,
) -> Script:
    """A queued script, completed from the request: its model, fresh ids unless the script or
    the fake has a seed, and the catalog's prices unless the script names a cost."""
    assert spec.script is not None
    given = spec.script.model_fields_set
    update: dict[str, Any] = {}
    if "model" not in given:
        update["model"] = req.model
    if "seed" not in given:
        update["seed"], created_at = default_answer.identity(req, seed)
        if "created_at" not in given:
            update["created_at"] = created_at
    if not {"prompt_price", "completion_price"} & given:
        update.update(default_answer.prices(model))
    return spec.script.model_copy(update=update) if update else spec.script


def echo_request(events: list[dict[str, Any]], req: ResponsesRequest) -> list[dict[str, Any]]:
    """Copy the request's settings into every lifecycle `response` (as OpenRouter does)."""
    dumped = req.model_dump(exclude_unset=True)
    echoed = {k: dumped[k] for k in ECHOED_FIELDS if k in dumped}
    if req.tools is not None:
        echoed["tools"] = [t.model_dump() for t in req.tools]
    if not echoed:
        return events
    for e in events:
        resp = e.get("response")
        if isinstance(resp, dict):
            resp.update(echoed)
    return events


def script_events(script: Script, req: ResponsesRequest) -> list[dict[str, Any]]:
    return echo_request(synth.build_events(script), req)


def decided(script: Script, decision: Decision | None, req: ResponsesRequest) -> Script:
    """The script as routing shaped it: the serving model, web citations, cached tokens."""
    if decision is None:
        return script
    update: dict[str, Any] = {}
    if "model" not in script.model_fields_set or script.model == req.model:
        update["model"] = decision.served_model
    if decision.web and not script.citations:
        update["citations"] = web_citations(last_user_text(req))
        update["web_search"] = True
    if decision.cached_tokens and not script.usage.cached_tokens:
        update["usage"] = script.usage.model_copy(update={"cached_tokens": decision.cached_tokens})
    return script.model_copy(update=update) if update else script


def spec_events(
    spec: QueueSpec,
    req: ResponsesRequest,
    faults: list[Fault],
    model: dict[str, Any] | None = None,
    seed: int | str | None = None,
    decision: Decision | None = None,
) -> list[dict[str, Any]]:
    """The event list of a queued `script` or `events` spec."""
    if spec.script is not None:
        script = decided(spec_script(spec, req, model, seed), decision, req)
        return script_events(apply_script_faults(script, faults), req)
    assert spec.events is not None
    return synth.renumber(spec.events)


def final_response(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The non-streaming body for an event list: its terminal event's `response`."""
    for e in reversed(events):
        if e.get("type") in synth.TERMINAL_TYPES and isinstance(e.get("response"), dict):
            return e["response"]
    raise SimHTTPError(
        500,
        "simulator: the queued events have no response.completed/incomplete/failed event, "
        "so there is no non-streaming body to return",
        error_type="server",
    )


def status_reply(spec: QueueSpec) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A queued plain HTTP reply: status, body (default: the generic envelope), headers."""
    assert spec.status is not None
    body = spec.body if spec.body is not None else generic_envelope(spec.status)
    headers = dict(spec.headers)
    if spec.status in (429, 503):
        headers.setdefault("Retry-After", "1")
    return spec.status, body, headers


def fault_error(fault: Fault) -> SimHTTPError:
    """The HTTP error a `rate_limit` or `server_error` fault answers with."""
    status = 429 if fault.kind == "rate_limit" else fault.status
    headers = {}
    if fault.retry_after is not None or status in (429, 503):
        ra = fault.retry_after if fault.retry_after is not None else 1
        headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
    extra: dict[str, Any] = {}
    if status == 429:
        extra["availability"] = {
            "code": "capacity_exhausted",
            "retryable": True,
            "retry_after": float(headers["Retry-After"]),
            "requested_models": [],
            "docs_url": "https://openrouter.ai/docs/api/reference/limits",
        }
    return SimHTTPError(
        status,
        fault.message,
        headers=headers,
        error_type=fault.error_type,
        **extra,
    )
