"""What a client should see when a cassette is replayed to it, derived from the cassette itself.

Used by `orsim smoke` and the SDK tests so that a new cassette needs no hand-written expectation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.cassettes.convert import TERMINAL
from simulator.cassettes.format import Cassette
from simulator.cassettes.sse import decode_events


@dataclass(frozen=True)
class Expectation:
    """`kind` is one of: http_error (status >= 400 before any stream), completed, incomplete,
    failed (a terminal event), error_event (OpenRouter's flat `error` event, then [DONE]),
    sdk_error (a nested `{error:{...}}` event, on which the openai SDK raises APIError)."""

    kind: str
    status: int
    events: int = 0  # data events (without comments and [DONE])
    message: str = ""
    final: dict[str, Any] | None = None

    @property
    def stream_end(self) -> str:
        return {
            "completed": "response.completed",
            "incomplete": "response.incomplete",
            "failed": "response.failed",
            "error_event": "error",
        }.get(self.kind, "")

    @property
    def json_status(self) -> int:
        """Status a non-streaming request gets (see convert.py)."""
        if self.kind == "http_error":
            return self.status
        return 200 if self.final is not None else 502


def expectation(cassette: Cassette, index: int = 0) -> Expectation:
    response = cassette.interactions[index].response
    if not response.is_sse:
        body = response.body if isinstance(response.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        kind = "http_error" if response.status >= 400 else "completed"
        return Expectation(kind, response.status, message=str(error.get("message", "")), final=body)
    events = [e for e in decode_events(response.raw_stream()) if isinstance(e, dict)]
    final = next((e["response"] for e in events if e.get("type") in TERMINAL), None)
    for event in events:
        if event.get("error"):
            return Expectation(
                "sdk_error", 200, len(events), str(event["error"].get("message")), final
            )
    last = events[-1] if events else {}
    if last.get("type") == "error":
        return Expectation("error_event", 200, len(events), str(last.get("message", "")), final)
    kind = str(last.get("type", "")).removeprefix("response.")
    if kind not in {"completed", "incomplete", "failed"}:
        kind = "truncated"
    return Expectation(kind, 200, len(events), final=final)
