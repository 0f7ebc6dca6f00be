"""The one place that synthesises canonical OpenRouter Responses wire events.

A `Script` is a short description of one model answer (reasoning, text, citations, function
calls, web search, usage). `build_events` turns it into the full event list of a Responses
stream with every field the spec and openai-python declare as required; `build_response` gives the
non-streaming result. Ids, timestamps and chunking derive from `Script.seed`, so the same script
always yields byte-identical output (cassettes, scenarios and pipe tests rely on that).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from simulator.openrouter.script import (
    DEFAULT_CREATED_AT,
    Citation,
    FunctionCall,
    Script,
    Usage,
    annotations_of,
    estimate_tokens,
    generation_id,
    make_id,
    split_chunks,
    usage_of,
)
from simulator.openrouter.sealing import seal

__all__ = [
    "DEFAULT_CREATED_AT",
    "DONE",
    "KEEPALIVE",
    "TERMINAL_TYPES",
    "Citation",
    "FunctionCall",
    "Script",
    "Usage",
    "build_events",
    "build_response",
    "encode_event",
    "encode_stream",
    "error_event",
    "estimate_tokens",
    "failed_event",
    "generation_id",
    "make_id",
    "nested_error_event",
    "renumber",
    "response_object",
    "split_chunks",
]

KEEPALIVE = b": OPENROUTER PROCESSING\n\n"
DONE = b"data: [DONE]\n\n"

TERMINAL_TYPES = frozenset({"response.completed", "response.incomplete", "response.failed"})


# ---------------------------------------------------------------- response object


def response_object(
    script: Script,
    response_id: str,
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The result object with every key the OpenAPI spec requires."""
    done = status in ("completed", "incomplete", "failed")
    obj: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": script.created_at,
        "model": script.model,
        "status": status,
        "completed_at": script.created_at + 1 if done else None,
        "output": output,
        "error": error,
        "incomplete_details": (
            {"reason": script.incomplete_reason} if status == "incomplete" else None
        ),
        "temperature": None,
        "top_p": None,
        "presence_penalty": None,
        "frequency_penalty": None,
        "instructions": None,
        "metadata": {},
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "max_output_tokens": None,
        "previous_response_id": None,
        "store": False,
        "text": {"format": {"type": "text"}},
        "truncation": "disabled",
        "usage": usage,
    }
    if done:
        obj["output_text"] = output_text_of(output)
    return obj


def output_text_of(output: list[dict[str, Any]]) -> str:
    return "".join(
        part.get("text", "")
        for item in output
        if item.get("type") == "message"
        for part in item.get("content", [])
        if part.get("type") == "output_text"
    )


# ---------------------------------------------------------------- items


class _Builder:
    """Accumulates events, numbering them, and the final output items by index."""

    def __init__(self, script: Script, response_id: str) -> None:
        self.script = script
        self.response_id = response_id
        self.events: list[dict[str, Any]] = []
        self.output: list[dict[str, Any]] = []

    def emit(self, type_: str, **fields: Any) -> None:
        self.events.append({"type": type_, "sequence_number": len(self.events), **fields})

    def id(self, prefix: str, kind: str, n: int = 0) -> str:
        return make_id(prefix, self.script.seed, kind, n)

    # reasoning --------------------------------------------------------------
    def reasoning_item(self) -> tuple[dict[str, Any], dict[str, Any]]:
        s = self.script
        item_id = self.id("rs_", "reasoning")
        final: dict[str, Any] = {"type": "reasoning", "id": item_id, "summary": []}
        if s.reasoning_style == "raw":
            final["content"] = [{"type": "reasoning_text", "text": s.reasoning}]
        else:
            final["summary"] = [{"type": "summary_text", "text": s.reasoning}]
        if s.encrypted_reasoning:
            final["encrypted_content"] = seal(item_id, s.reasoning or "")
        if s.reasoning_format:
            final["format"] = s.reasoning_format
        if s.reasoning_signature:
            final["signature"] = hashlib.sha256(f"sig|{s.seed}|{s.reasoning}".encode()).hexdigest()
        final["status"] = "completed"
        added = {"type": "reasoning", "id": item_id, "summary": [], "status": "in_progress"}
        if s.reasoning_style == "raw":
            added["content"] = []
        return added, final

    def reasoning_open(self, idx: int, item_id: str) -> None:
        s = self.script
        if s.reasoning_style == "summary_in_done_only":
            return
        if s.reasoning_style == "raw":
            for chunk in split_chunks(s.reasoning or "", s.chunk_words):
                self.emit(
                    "response.reasoning_text.delta",
                    item_id=item_id,
                    output_index=idx,
                    content_index=0,
                    delta=chunk,
                )
            return
        part = {"type": "summary_text", "text": ""}
        self.emit(
            "response.reasoning_summary_part.added",
            item_id=item_id,
            output_index=idx,
            summary_index=0,
            part=part,
        )
        for chunk in split_chunks(s.reasoning or "", s.chunk_words):
            self.emit(
                "response.reasoning_summary_text.delta",
                item_id=item_id,
                output_index=idx,
                summary_index=0,
                delta=chunk,
            )

    def reasoning_close(self, idx: int, final: dict[str, Any]) -> None:
        s = self.script
        item_id = final["id"]
        if s.reasoning_style == "raw":
            self.emit(
                "response.reasoning_text.done",
                item_id=item_id,
                output_index=idx,
                content_index=0,
                text=s.reasoning,
            )
        elif s.reasoning_style != "summary_in_done_only":
            self.emit(
                "response.reasoning_summary_text.done",
                item_id=item_id,
                output_index=idx,
                summary_index=0,
                text=s.reasoning,
            )
            self.emit(
                "response.reasoning_summary_part.done",
                item_id=item_id,
                output_index=idx,
                summary_index=0,
                part={"type": "summary_text", "text": s.reasoning},
            )
        self.emit("response.output_item.done", output_index=idx, item=final)

    # web search -------------------------------------------------------------
    def web_search(self, idx: int) -> None:
        s = self.script
        item_id = self.id("ws_", "web_search")
        query = s.web_search_query or (s.text or "search")[:60]
        action = {"type": "search", "query": query}
        self.emit(
            "response.output_item.added",
            output_index=idx,
            item={
                "type": "web_search_call",
                "id": item_id,
                "status": "in_progress",
                "action": action,
            },
        )
        for phase in ("in_progress", "searching", "completed"):
            self.emit(f"response.web_search_call.{phase}", item_id=item_id, output_index=idx)
        final = {
            "type": "web_search_call",
            "id": item_id,
            "status": "completed",
            "action": {**action, "sources": [{"type": "url", "url": c.url} for c in s.citations]},
        }
        self.emit("response.output_item.done", output_index=idx, item=final)
        self.output.append(final)

    # message ----------------------------------------------------------------
    def message(self, idx: int) -> None:
        s = self.script
        text = s.text or ""
        item_id = self.id("msg_", "message")
        item_status = "incomplete" if s.status == "incomplete" else "completed"
        self.emit(
            "response.output_item.added",
            output_index=idx,
            item={
                "type": "message",
                "id": item_id,
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            },
        )
        loc = {"item_id": item_id, "output_index": idx, "content_index": 0}
        self.emit(
            "response.content_part.added",
            **loc,
            part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
        )
        for chunk in split_chunks(text, s.chunk_words):
            self.emit("response.output_text.delta", **loc, delta=chunk, logprobs=[])
        annotations = annotations_of(s)
        for n, ann in enumerate(annotations):
            self.emit(
                "response.output_text.annotation.added", **loc, annotation_index=n, annotation=ann
            )
        self.emit("response.output_text.done", **loc, text=text, logprobs=[])
        part = {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}
        self.emit("response.content_part.done", **loc, part=part)
        final = {
            "type": "message",
            "id": item_id,
            "role": "assistant",
            "status": item_status,
            "content": [part],
        }
        self.emit("response.output_item.done", output_index=idx, item=final)
        self.output.append(final)

    # function calls ---------------------------------------------------------
    def function_call(self, idx: int, n: int, fc: FunctionCall) -> None:
        s = self.script
        item_id = self.id("fc_", "function_call", n)
        call_id = fc.call_id or self.id("call_", "call", n)
        args = fc.arguments_json()
        base = {"type": "function_call", "id": item_id, "call_id": call_id, "name": fc.name}
        self.emit(
            "response.output_item.added",
            output_index=idx,
            item={**base, "arguments": "", "status": "in_progress"},
        )
        for chunk in _split_args(args, s.chunk_words):
            self.emit(
                "response.function_call_arguments.delta",
                item_id=item_id,
                output_index=idx,
                delta=chunk,
            )
        self.emit(
            "response.function_call_arguments.done",
            item_id=item_id,
            output_index=idx,
            arguments=args,
            name=fc.name,
        )
        final = {**base, "arguments": args, "status": "completed"}
        self.emit("response.output_item.done", output_index=idx, item=final)
        self.output.append(final)


def _split_args(args: str, chunk_words: int) -> list[str]:
    """Arguments stream in pieces of about 8 characters per word-chunk, like real models."""
    step = 8 * chunk_words
    return [args[i : i + step] for i in range(0, len(args), step)] or []


# ---------------------------------------------------------------- public builders


def build_events(script: Script, *, response_id: str | None = None) -> list[dict[str, Any]]:
    """The full canonical event list for a script, from `response.created` (sequence 0) to
    `response.completed`/`response.incomplete` (without the `[DONE]` sentinel)."""
    rid = response_id or make_id("resp_", script.seed, "response")
    b = _Builder(script, rid)
    b.emit(
        "response.created",
        response=response_object(script, rid, status="in_progress", output=[], usage=None),
    )
    b.emit(
        "response.in_progress",
        response=response_object(script, rid, status="in_progress", output=[], usage=None),
    )
    idx = 0
    late_reasoning: tuple[int, dict[str, Any]] | None = None
    if script.reasoning is not None:
        added, final = b.reasoning_item()
        b.emit("response.output_item.added", output_index=idx, item=added)
        b.reasoning_open(idx, added["id"])
        b.output.append(final)
        if script.reasoning_style == "late_close":
            late_reasoning = (idx, final)
        else:
            b.reasoning_close(idx, final)
        idx += 1
    if script.web_search:
        b.web_search(idx)
        idx += 1
    if script.text is not None or not script.function_calls:
        b.message(idx)
        idx += 1
    if late_reasoning is not None:
        b.reasoning_close(*late_reasoning)
    for n, fc in enumerate(script.function_calls):
        b.function_call(idx, n, fc)
        idx += 1
    usage = usage_of(script)
    terminal = "response.incomplete" if script.status == "incomplete" else "response.completed"
    b.emit(
        terminal,
        response=response_object(script, rid, status=script.status, output=b.output, usage=usage),
    )
    return b.events


def build_response(script: Script, *, response_id: str | None = None) -> dict[str, Any]:
    """The non-streaming result object (the terminal event's `response`)."""
    return build_events(script, response_id=response_id)[-1]["response"]


def encode_event(event: dict[str, Any]) -> bytes:
    """One SSE frame: `data: <compact json>` and a blank line (no `event:` line, as OpenRouter)."""
    return (
        b"data: " + json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"
    )


def encode_stream(events: list[dict[str, Any]], *, keepalives: int = 1) -> bytes:
    """A whole stream body: keep-alive comments, every event, then `data: [DONE]`."""
    return KEEPALIVE * keepalives + b"".join(encode_event(e) for e in events) + DONE


def renumber(events: list[dict[str, Any]], start: int = 0) -> list[dict[str, Any]]:
    """Fill in missing `sequence_number`s so they rise by 1 from `start` (existing ones kept)."""
    out = []
    for n, event in enumerate(events):
        e = dict(event)
        e.setdefault("sequence_number", start + n)
        out.append(e)
    return out


# ---------------------------------------------------------------- error events


def error_event(
    message: str = "Internal server error",
    *,
    code: str | None = "server_error",
    param: str | None = None,
    sequence_number: int = 0,
) -> dict[str, Any]:
    """The flat mid-stream `error` event of OpenRouter's own SDK fixtures."""
    return {
        "type": "error",
        "code": code,
        "message": message,
        "param": param,
        "sequence_number": sequence_number,
    }


def nested_error_event(
    message: str = "Internal server error",
    *,
    code: str | int = "server_error",
    sequence_number: int = 0,
) -> dict[str, Any]:
    """The nested `{"type":"error","error":{code,message}}` variant the prose docs list; the
    openai SDK raises `APIError` on it (truthy top-level `error`)."""
    return {
        "type": "error",
        "error": {"code": code, "message": message},
        "sequence_number": sequence_number,
    }


def failed_event(
    script: Script | None = None,
    *,
    response_id: str | None = None,
    message: str = "Provider returned error",
    code: str = "server_error",
    error_type: str = "provider_unavailable",
    sequence_number: int = 0,
    output: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`response.failed` with `error:{code,message}` and OpenRouter's top-level `error_type`."""
    script = script or Script()
    rid = response_id or make_id("resp_", script.seed, "response")
    resp = response_object(
        script,
        rid,
        status="failed",
        output=output or [],
        usage=usage_of(script.model_copy(update={"text": None, "reasoning": None})),
        error={"code": code, "message": message},
    )
    resp["error_type"] = error_type
    return {"type": "response.failed", "sequence_number": sequence_number, "response": resp}
