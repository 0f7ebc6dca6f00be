"""`POST /api/v1/chat/completions` in OpenRouter's chat format, and the refusals that make a
client need it.

Staged by `SimConfig`: `responses_refused_models` get a 400 on `/responses` ("not supported on
the Responses API; use /chat/completions"); `reasoning_rejected_models` get a 400 whenever the
request carries reasoning parameters (the provider's "include_thoughts is only enabled when
thinking is enabled", passed on in `metadata.raw`). A chat answer comes from the queue (a
`script` spec) or echoes the last user message, streamed as `chat.completion.chunk`s (reasoning
in `delta.reasoning`, tool calls in `delta.tool_calls`, usage in a last chunk with no choices)
or as one `chat.completion`.
"""

from __future__ import annotations

import json
from typing import Any

from simulator.openrouter import synth
from simulator.openrouter.errors import SimHTTPError
from simulator.openrouter.synth import Script, Usage

REFUSED_MESSAGE = (
    "Model {model} is not supported on the Responses API. Use /api/v1/chat/completions instead."
)
THINKING_RAW = "include_thoughts is only enabled when thinking is enabled"


def check_responses_allowed(refused: list[str], body: dict[str, Any]) -> None:
    model = str(body.get("model") or "")
    if model in refused:
        raise SimHTTPError(400, REFUSED_MESSAGE.format(model=model))


def check_reasoning_allowed(rejecting: list[str], body: dict[str, Any]) -> None:
    model = str(body.get("model") or "")
    if model in rejecting and (body.get("reasoning") or body.get("include")):
        raise SimHTTPError(
            400,
            "Provider returned error",
            metadata={"raw": THINKING_RAW, "provider_name": "Google AI Studio"},
        )


def echo_script(body: dict[str, Any]) -> Script:
    said = ""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
            said = str(content or "").strip()
            break
    prompt = json.dumps(body.get("messages"), ensure_ascii=False)
    return Script(
        model=str(body.get("model") or "openai/gpt-4o-mini"),
        text=f"You said: {said}" if said else "Hello! I am the OpenRouter simulator.",
        usage=Usage(input_tokens=max(1, synth.estimate_tokens(prompt))),
    )


def _usage(script: Script) -> dict[str, Any]:
    u = synth.usage_of(script)
    return {
        "prompt_tokens": u["input_tokens"],
        "completion_tokens": u["output_tokens"],
        "total_tokens": u["total_tokens"],
        "cost": u["cost"],
        "prompt_tokens_details": {"cached_tokens": u["input_tokens_details"]["cached_tokens"]},
        "completion_tokens_details": {
            "reasoning_tokens": u["output_tokens_details"]["reasoning_tokens"]
        },
    }


def _tool_calls(script: Script) -> list[dict[str, Any]]:
    return [
        {
            "id": call.call_id or synth.make_id("call_", script.seed, "call", n),
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json()},
        }
        for n, call in enumerate(script.function_calls)
    ]


def _finish_reason(script: Script) -> str:
    if script.function_calls:
        return "tool_calls"
    return "length" if script.status == "incomplete" else "stop"


def completion(script: Script) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": script.text or ""}
    if script.reasoning:
        message["reasoning"] = script.reasoning
    if script.function_calls:
        message["tool_calls"] = _tool_calls(script)
    return {
        "id": synth.generation_id(str(script.seed)),
        "object": "chat.completion",
        "created": script.created_at,
        "model": script.model,
        "provider": "OpenAI",
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(script)}],
        "usage": _usage(script),
    }


def chunks(script: Script) -> list[dict[str, Any]]:
    """The `chat.completion.chunk`s of a streamed answer (without the final `[DONE]`)."""
    base = {
        "id": synth.generation_id(str(script.seed)),
        "object": "chat.completion.chunk",
        "created": script.created_at,
        "model": script.model,
        "provider": "OpenAI",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {**base, "choices": [choice]}

    out = []
    for piece in synth.split_chunks(script.reasoning or "", script.chunk_words):
        out.append(chunk({"role": "assistant", "content": "", "reasoning": piece}))
    for piece in synth.split_chunks(script.text or "", script.chunk_words):
        out.append(chunk({"role": "assistant", "content": piece}))
    for n, call in enumerate(_tool_calls(script)):
        out.append(chunk({"tool_calls": [{"index": n, **call}]}))
    out.append(chunk({}, _finish_reason(script)))
    out.append({**base, "choices": [], "usage": _usage(script)})
    return out


def sse(payloads: list[dict[str, Any]]) -> list[bytes]:
    frames = [b": OPENROUTER PROCESSING\n\n"]
    frames += [b"data: " + json.dumps(p, ensure_ascii=False).encode() + b"\n\n" for p in payloads]
    frames.append(b"data: [DONE]\n\n")
    return frames
