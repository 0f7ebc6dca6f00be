"""The short description of one model answer (`Script`) and the pure helpers derived from it
(deterministic ids, delta chunking, token estimates, usage with cost, citations).

`synth.py` re-exports everything here; import from there.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_CREATED_AT = 1767225600  # 2026-01-01T00:00:00Z: fixed so output is reproducible


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
    reasoning_signature: bool = False  # Anthropic-style signed thinking
    prompt_price: float | None = None  # USD per input token (the catalog's pricing.prompt)
    completion_price: float | None = None  # USD per output token
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


def usage_of(script: Script) -> dict[str, Any]:
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
    # Without catalog prices (hand-authored cassettes): flat $1 / $4 per million tokens.
    in_price = script.prompt_price if script.prompt_price is not None else 1e-6
    out_price = script.completion_price if script.completion_price is not None else 4e-6
    cost = u.cost
    if cost is None:
        cost = round(input_tokens * in_price + output_tokens * out_price, 12)
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
            "upstream_inference_input_cost": round(input_tokens * in_price, 12),
            "upstream_inference_output_cost": round(output_tokens * out_price, 12),
        },
    }


def annotations_of(script: Script) -> list[dict[str, Any]]:
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
