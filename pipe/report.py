"""What the user sees besides the answer: Open WebUI chunks, usage and the final status line."""

from __future__ import annotations

import re
import time
from typing import Any

from .wire import InputTokensDetails, OutputTokensDetails, Usage


class ChunkFactory:
    """Builds OpenAI `chat.completion.chunk` dicts (what Open WebUI 0.12 parses from a pipe):
    `delta.content` for text, `delta.reasoning_content` for native reasoning display."""

    __slots__ = ("_created", "_id", "_model")

    def __init__(self, request_id: str, model: str) -> None:
        self._id = f"chatcmpl-{request_id}"
        self._model = model
        self._created = int(time.time())

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    def text(self, text: str) -> dict[str, Any]:
        return self._chunk({"content": text})

    def reasoning(self, text: str) -> dict[str, Any]:
        return self._chunk({"reasoning_content": text})

    def tool_calls(self, calls: list[dict[str, Any]]) -> dict[str, Any]:
        """Calls handed to Open WebUI's own tool loop (pass-through mode)."""
        return self._chunk({"tool_calls": calls})

    def completion(
        self, text: str, tool_calls: list[dict[str, Any]], usage: Usage | None
    ) -> dict[str, Any]:
        """A whole non-streaming `chat.completion` whose message hands tool calls over."""
        calls = [{k: v for k, v in c.items() if k != "index"} for c in tool_calls]
        out: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion",
            "created": self._created,
            "model": self._model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text or None, "tool_calls": calls},
                    "finish_reason": "tool_calls",
                }
            ],
        }
        if usage is not None:
            out["usage"] = owui_usage(usage)
        return out

    def finish(self, usage: Usage | None, finish_reason: str = "stop") -> dict[str, Any]:
        chunk = self._chunk({}, finish_reason)
        if usage is not None:
            chunk["usage"] = owui_usage(usage)
        return chunk


def add_usage(total: Usage | None, more: Usage | None) -> Usage | None:
    """Usage summed over the upstream calls of one request (tool-loop rounds)."""
    if total is None or more is None:
        return more if total is None else total
    cost = (
        None if total.cost is None and more.cost is None else (total.cost or 0) + (more.cost or 0)
    )
    return Usage(
        input_tokens=total.input_tokens + more.input_tokens,
        output_tokens=total.output_tokens + more.output_tokens,
        total_tokens=(total.total_tokens or total.input_tokens + total.output_tokens)
        + (more.total_tokens or more.input_tokens + more.output_tokens),
        input_tokens_details=InputTokensDetails(
            cached_tokens=total.cached_tokens + more.cached_tokens
        ),
        output_tokens_details=OutputTokensDetails(
            reasoning_tokens=total.reasoning_tokens + more.reasoning_tokens
        ),
        cost=cost,
    )


def owui_usage(usage: Usage) -> dict[str, Any]:
    """Chat-completions usage keys (what Open WebUI stores) plus the Responses ones and cost."""
    out: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens or usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
    }
    if usage.cost is not None:
        out["cost"] = usage.cost
    return out


def served_by_fallback(requested: str, served: str) -> bool:
    """True when OpenRouter answered with another model than the one asked for (a fallback).
    Variant suffixes (`:online`) and dated snapshots of the asked model do not count."""
    if not requested or not served:
        return False
    base, served = requested.split(":", 1)[0], served.split(":", 1)[0]
    return served != base and re.fullmatch(re.escape(base) + r"-\d{4}-\d{2}-\d{2}", served) is None


def final_status_line(usage: Usage | None, elapsed: float, generation_seconds: float | None) -> str:
    """e.g. `3.21 s · 45 in (10 cached) · 120 out (30 reasoning) · $0.001234 · 37.5 tok/s`."""
    parts = [f"{elapsed:.2f} s"]
    if usage is not None:
        tokens_in = f"{usage.input_tokens} in"
        if usage.cached_tokens:
            tokens_in += f" ({usage.cached_tokens} cached)"
        tokens_out = f"{usage.output_tokens} out"
        if usage.reasoning_tokens:
            tokens_out += f" ({usage.reasoning_tokens} reasoning)"
        parts += [tokens_in, tokens_out]
        if usage.cost is not None:
            parts.append(f"${usage.cost:.6f}".rstrip("0").rstrip(".") if usage.cost else "$0")
        seconds = generation_seconds if generation_seconds and generation_seconds > 0 else elapsed
        if usage.output_tokens and seconds > 0:
            parts.append(f"{usage.output_tokens / seconds:.1f} tok/s")
    return " · ".join(parts)
