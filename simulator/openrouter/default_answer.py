"""The answer the fake gives when nothing is queued and no cassette plays: an echo of the last
user message that honours what the request asks for.

- `max_output_tokens`: output (reasoning first, then text) stops at the limit; the response is
  `incomplete` with reason `max_output_tokens`.
- `text.format`: `json_schema` gets a JSON value valid for the schema, `json_object` a JSON object.
- `tool_choice`: `"required"` calls the first function tool, `{"type": "function", "name"}` that
  one; arguments satisfy the tool's parameter schema.
- reasoning: only when asked for and the model reasons (catalog `supported_parameters`), shaped
  like the model's provider: OpenAI-style summaries, or raw reasoning text with `format` (and a
  `signature` for Anthropic); `encrypted_content` only when `include` asks for it.
- cost: from the catalog's prices (`:free` models cost nothing).
- ids and `created_at`: fresh per response, unless the fake was given a seed (then a pure
  function of the seed and the request, for replayable output).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from simulator.openrouter.capabilities import input_tokens_of
from simulator.openrouter.schema_instance import instance_of
from simulator.openrouter.script import (
    DEFAULT_CREATED_AT,
    FunctionCall,
    Script,
    Usage,
    estimate_tokens,
)
from simulator.openrouter.validation import ResponsesRequest, last_user_text

# Provider (slug author) -> (reasoning style, `format`, signed).
REASONING_SHAPES: dict[str, tuple[str, str, bool]] = {
    "openai": ("summary", "openai-responses-v1", False),
    "anthropic": ("raw", "anthropic-claude-v1", True),
    "google": ("raw", "google-gemini-v1", False),
    "x-ai": ("raw", "xai-responses-v1", False),
    "meta-llama": ("raw", "meta-responses-v1", False),
}
DEFAULT_SHAPE = ("raw", "unknown", False)
ENCRYPTED = "reasoning.encrypted_content"


def author_of(model: str) -> str:
    return model.lstrip("~").split("/", 1)[0]


def identity(req: ResponsesRequest, seed: int | str | None) -> tuple[str, int]:
    """(script seed, created_at): random and now, or derived from a configured seed."""
    if seed is None:
        return secrets.token_hex(12), int(time.time())
    request = json.dumps([req.model, req.input, req.instructions], sort_keys=True, default=str)
    digest = hashlib.sha256(f"{seed}|{request}".encode()).hexdigest()[:16]
    return digest, DEFAULT_CREATED_AT


def prices(model: dict[str, Any] | None) -> dict[str, float]:
    """`prompt_price`/`completion_price` for a Script from a catalog entry ({} if unknown)."""
    pricing = (model or {}).get("pricing") or {}
    out: dict[str, float] = {}
    for key, field in (("prompt", "prompt_price"), ("completion", "completion_price")):
        try:
            out[field] = float(pricing[key])
        except (KeyError, TypeError, ValueError):
            continue
    return out


def reasoning_fields(req: ResponsesRequest, model: dict[str, Any] | None, text: str) -> dict:
    r = req.reasoning
    asked = (
        r is not None and r.enabled is not False and (r.enabled or r.effort not in (None, "none"))
    )
    capable = model is None or "reasoning" in (model.get("supported_parameters") or [])
    if not (asked and capable):
        return {"reasoning": None}
    style, fmt, signed = REASONING_SHAPES.get(author_of(req.model), DEFAULT_SHAPE)
    return {
        "reasoning": f"The user wrote {len(text.split())} words. I will echo them back.",
        "reasoning_style": style,
        "reasoning_format": fmt,
        "reasoning_signature": signed,
        "encrypted_reasoning": ENCRYPTED in (req.include or []),
    }


def forced_call(req: ResponsesRequest, hint: str) -> FunctionCall | None:
    choice = req.tool_choice
    tools = [t.model_dump() for t in req.tools or [] if t.type == "function"]
    if not tools or choice in (None, "auto", "none"):
        return None
    if isinstance(choice, dict):
        if choice.get("type") != "function":
            return None
        tool = next((t for t in tools if t.get("name") == choice.get("name")), None)
    else:  # "required"
        tool = tools[0]
    if tool is None:
        return None
    args = instance_of(tool.get("parameters") or {"type": "object"}, hint)
    return FunctionCall(name=str(tool["name"]), arguments=args if isinstance(args, dict) else {})


def answer_text(req: ResponsesRequest, said: str) -> str:
    fmt = (req.text.format if req.text else None) or {}
    if fmt.get("type") == "json_schema":
        return json.dumps(instance_of(fmt.get("schema") or {}, said), ensure_ascii=False)
    if fmt.get("type") == "json_object":
        return json.dumps({"echo": said}, ensure_ascii=False)
    return f"You said: {said}" if said else "Hello! I am the OpenRouter simulator."


def default_script(
    req: ResponsesRequest, model: dict[str, Any] | None, seed: int | str | None
) -> Script:
    said = last_user_text(req).strip()
    script_seed, created_at = identity(req, seed)
    fields: dict[str, Any] = reasoning_fields(req, model, said)
    call = forced_call(req, said)
    text: str | None = None if call else answer_text(req, said)
    usage = Usage(input_tokens=input_tokens_of(req))
    limit = req.max_output_tokens
    status = "completed"
    if limit is not None:
        reasoning_tokens = estimate_tokens(fields["reasoning"])
        args_tokens = estimate_tokens(call.arguments_json()) if call else 0
        wanted = reasoning_tokens + estimate_tokens(text) + args_tokens
        if wanted > limit:
            status = "incomplete"
            room = max(0, limit - reasoning_tokens)
            text = (text or "")[: room * 4]
            usage = usage.model_copy(
                update={"output_tokens": limit, "reasoning_tokens": min(reasoning_tokens, limit)}
            )
    return Script(
        model=req.model,
        seed=script_seed,
        created_at=created_at,
        text=text,
        function_calls=[call] if call and status == "completed" else [],
        usage=usage,
        status=status,
        incomplete_reason="max_output_tokens",
        **fields,
        **prices(model),
    )
