"""Faults the fake can inject, and their small text syntax.

Syntax (the `X-Sim-Fault` header, `--fault` on the CLI, or a string in a queued spec):
faults separated by `,`, each a kind followed by `;key=value` parameters, e.g.

    rate_limit;count=2;retry_after=1
    server_error;status=502
    latency;seconds=0.5, disconnect;after=5

Kinds and their parameters (defaults in brackets):
- `latency;seconds=S` [1]                 wait S seconds before the response headers
- `rate_limit;count=N;retry_after=S` [all; 1]     429 with `Retry-After` for the first N requests
- `server_error;status=500|502|503|...;count=N;retry_after=S`   5xx in the generic envelope
  (`Retry-After` is sent on 503, and on any status when `retry_after` is given)
- `error_event;after=N;message=...;code=...` [after=2]   200, N events, a flat `error` event, [DONE]
- `nested_error;after=N`                  the same with `{"type":"error","error":{...}}`
- `failed;after=N;error_type=...;message=...` [provider_unavailable]  200 then `response.failed`
- `disconnect;after=N` [3]                 N events, then the stream ends with no terminal/[DONE]
- `malformed;after=N` [2]                  a truncated JSON `data:` frame after N events
- `keepalive;after=N;comments=C;seconds=T` [0; 3; 0]   C comments spread over T seconds
- `late_reasoning`                         reasoning item closes after the message text
- `summary_in_done`                        reasoning summary arrives only in `output_item.done`
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

FaultKind = Literal[
    "latency",
    "rate_limit",
    "server_error",
    "error_event",
    "nested_error",
    "failed",
    "disconnect",
    "malformed",
    "keepalive",
    "late_reasoning",
    "summary_in_done",
]
PRE_RESPONSE = frozenset({"rate_limit", "server_error"})
SCRIPT_STYLE = {"late_reasoning": "late_close", "summary_in_done": "summary_in_done_only"}


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: FaultKind
    count: int | None = None  # rate_limit/server_error: only the first N requests (None: all)
    retry_after: float | None = None
    status: int = 503
    after: int | None = None  # events before the fault fires
    seconds: float | None = None
    comments: int = 3
    message: str | None = None
    code: str | None = None
    error_type: str | None = None

    def after_or(self, default: int) -> int:
        return default if self.after is None else self.after


class FaultSyntaxError(ValueError):
    """A fault string that does not parse; the message says what is wrong."""


def parse_faults(text: str) -> list[Fault]:
    """Parse `kind;k=v;k=v, kind2;...` into Fault objects."""
    faults = []
    for chunk in text.split(","):
        chunk = chunk.strip()
        if not chunk:
            continue
        kind, *params = [p.strip() for p in chunk.split(";")]
        data: dict[str, str] = {"kind": kind}
        for param in params:
            key, sep, value = param.partition("=")
            if not sep or not key.strip():
                raise FaultSyntaxError(f"fault parameter {param!r} is not key=value (in {chunk!r})")
            data[key.strip()] = value.strip()
        try:
            faults.append(Fault.model_validate(data, strict=False))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise FaultSyntaxError(f"bad fault {chunk!r}: {where}: {first['msg']}") from exc
    return faults


def coerce_faults(value: str | dict | list | Fault | None) -> list[Fault]:
    """Accept the text syntax, a dict, a Fault, or a list of any of these."""
    if value is None:
        return []
    if isinstance(value, Fault):
        return [value]
    if isinstance(value, str):
        return parse_faults(value)
    if isinstance(value, dict):
        return [Fault.model_validate(value)]
    out: list[Fault] = []
    for v in value:
        out.extend(coerce_faults(v))
    return out
