"""The one place that synthesises canonical OpenRouter Responses wire events.

A `Script` is a short description of one model answer (reasoning, text, citations, function
calls, web search, usage). `build_events` turns it into the full event list of reference §4.3-4.4
with every field the spec and openai-python declare as required; `build_response` gives the
non-streaming result. Ids, timestamps and chunking derive from `Script.seed`, so the same script
always yields byte-identical output (cassettes, scenarios and pipe tests rely on that).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

KEEPALIVE = b": OPENROUTER PROCESSING\n\n"
DONE = b"data: [DONE]\n\n"
DEFAULT_CREATED_AT = 1767225600  # 2026-01-01T00:00:00Z: fixed so output is reproducible

TERMINAL_TYPES = frozenset({"response.completed", "response.incomplete", "response.failed"})


class Citation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    title: str = ""
    start_index: int | None = None
    end_index: int | None = None
    content: str | None = None


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    arguments: str | dict[str, Any] = "{}"
    call_id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, separators=(",", ":"), ensure_ascii=False)


class Usage(BaseModel):
    """Token counts; anything left out is derived from the script's text."""

    model_config = ConfigDict(extra="forbid")
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int = 0
    cost: float | None = None


class Script(BaseModel):
    """One model answer, described briefly."""

    model_config = ConfigDict(extra="forbid")
    model: str = "openai/gpt-4o-mini"
    seed: int | str = 0
    reasoning: str | None = None
    reasoning_style: Literal["summary", "raw", "summary_in_done_only", "late_close"] = "summary"
    encrypted_reasoning: bool = False
    reasoning_format: str | None = None
    text: str | None = None
    citations: list[Citation] = Field(default_factory=list)
    function_calls: list[FunctionCall] = Field(default_factory=list)
    web_search: bool = False
    web_search_query: str | None = None
    usage: Usage = Field(default_factory=Usage)
    status: Literal["completed", "incomplete"] = "completed"
    incomplete_reason: Literal["max_output_tokens", "content_filter"] = "max_output_tokens"
    chunk_words: int = Field(default=1, ge=1)
    created_at: int = DEFAULT_CREATED_AT

    @field_validator("function_calls", mode="before")
    @classmethod
    def _calls_from_dicts(cls, value: Any) -> Any:
        return value or []


# ---------------------------------------------------------------- ids, chunks, tokens


def make_id(prefix: str, seed: int | str, kind: str, n: int = 0) -> str:
    """A deterministic id such as `msg_3f2a...` derived from the seed."""
    digest = hashlib.sha256(f"{seed}|{kind}|{n}".encode()).hexdigest()[:24]
    return f"{prefix}{digest}"


def generation_id(response_id: str) -> str:
    """The `X-Generation-Id` header value that belongs to a response id."""
    return "gen-" + hashlib.sha256(response_id.encode()).hexdigest()[:20]


_WORD = re.compile(r"\S+\s*|\s+")


def split_chunks(text: str, words_per_chunk: int = 1) -> list[str]:
    """Split text into delta chunks of N words (trailing whitespace stays with its word);
    the chunks always concatenate back to the exact text."""
    if not text:
        return []
    words = _WORD.findall(text)
    return ["".join(words[i : i + words_per_chunk]) for i in range(0, len(words), words_per_chunk)]


def estimate_tokens(text: str | None) -> int:
    """A rough tokenizer: about four characters per token."""
    return math.ceil(len(text) / 4) if text else 0


def _usage(script: Script) -> dict[str, Any]:
    u = script.usage
    reasoning_tokens = (
        u.reasoning_tokens if u.reasoning_tokens is not None else estimate_tokens(script.reasoning)
    )
    if u.output_tokens is not None:
        output_tokens = u.output_tokens
    else:
        args = "".join(fc.arguments_json() for fc in script.function_calls)
        output_tokens = estimate_tokens(script.text) + estimate_tokens(args) + reasoning_tokens
    input_tokens = u.input_tokens if u.input_tokens is not None else 12
    cost = u.cost
    if cost is None:
        cost = round(input_tokens * 1e-6 + output_tokens * 4e-6, 9)
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
        "cost": cost,
        "is_byok": False,
        "cost_details": {
            "upstream_inference_cost": None,
            "upstream_inference_input_cost": round(input_tokens * 1e-6, 9),
            "upstream_inference_output_cost": round(output_tokens * 4e-6, 9),
        },
    }


def _annotations(script: Script) -> list[dict[str, Any]]:
    text = script.text or ""
    out = []
    for c in script.citations:
        start = c.start_index if c.start_index is not None else len(text)
        end = c.end_index if c.end_index is not None else len(text)
        ann: dict[str, Any] = {
            "type": "url_citation",
            "url": c.url,
            "title": c.title,
            "start_index": start,
            "end_index": end,
        }
        if c.content is not None:
            ann["content"] = c.content
        out.append(ann)
    return out


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
    """The result object with every key the spec requires (reference §3)."""
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
            final["encrypted_content"] = (
                "enc_" + hashlib.sha256(f"{s.seed}|{s.reasoning}".encode()).hexdigest()
            )
        if s.reasoning_format:
            final["format"] = s.reasoning_format
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
        annotations = _annotations(s)
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
    usage = _usage(script)
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
    """The flat mid-stream `error` event of OpenRouter's own SDK fixtures (reference §4.6a)."""
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
        usage=_usage(script.model_copy(update={"text": None, "reasoning": None})),
        error={"code": code, "message": message},
    )
    resp["error_type"] = error_type
    return {"type": "response.failed", "sequence_number": sequence_number, "response": resp}
