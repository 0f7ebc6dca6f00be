"""Strict validation of a Responses request body, with OpenRouter's rejections.

Typed pydantic models cover the fields a client is likely to get wrong; unknown top-level keys
are tolerated (OpenRouter ignores them). Every rejection is a `SimHTTPError(400)` whose message
names the offending parameter.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from simulator.openrouter.errors import SimHTTPError
from simulator.openrouter.sealing import check_reasoning_item

_Str256 = Annotated[str, StringConstraints(max_length=256)]

INCLUDE_VALUES = Literal[
    "reasoning.encrypted_content",
    "file_search_call.results",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
]

# Item types accepted in `input` besides message/function_call/function_call_output/reasoning:
# replays of server-side and tool outputs, echoed back as received.
PASSTHROUGH_ITEM_TYPES = frozenset(
    {
        "web_search_call",
        "file_search_call",
        "image_generation_call",
        "code_interpreter_call",
        "computer_call",
        "computer_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "mcp_call",
        "item_reference",
        "compaction",
    }
)
# Tool types OpenRouter accepts in `tools` (besides `openrouter:*` server tools).
TOOL_TYPES = frozenset(
    {
        "function",
        "web_search",
        "web_search_2025_08_26",
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "file_search",
        "code_interpreter",
        "image_generation",
        "computer_use_preview",
        "mcp",
        "local_shell",
        "shell",
        "custom",
        "apply_patch",
    }
)
TOOL_CHOICE_MODES = frozenset({"auto", "none", "required"})
# `tool_choice` object types and the fields each needs.
TOOL_CHOICE_OBJECTS = {
    "function": ("name",),
    "allowed_tools": ("mode", "tools"),
    "web_search_preview": (),
    "web_search_preview_2025_03_11": (),
    "apply_patch": (),
    "shell": (),
}
METADATA_MAX_KEY = 64
METADATA_MAX_VALUE = 512
USER_PART_TYPES = frozenset(
    {"input_text", "input_image", "input_file", "input_audio", "input_video"}
)
ASSISTANT_PART_TYPES = frozenset({"output_text", "refusal"})


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class Reasoning(_Loose):
    effort: Literal["max", "xhigh", "high", "medium", "low", "minimal", "none"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    enabled: bool | None = None
    max_tokens: int | None = None
    mode: Literal["standard", "pro"] | None = None
    context: Literal["auto", "all_turns", "current_turn"] | None = None


class TextConfig(_Loose):
    format: dict[str, Any] | None = None
    verbosity: Literal["low", "medium", "high", "xhigh", "max"] | None = None


class Tool(_Loose):
    type: str


class FunctionTool(_Loose):
    type: Literal["function"]
    name: Annotated[str, StringConstraints(min_length=1)]
    description: str | None = None
    parameters: dict[str, Any] | None
    strict: bool | None = None


class Plugin(_Loose):
    id: str
    enabled: bool | None = None


class ResponsesRequest(_Loose):
    model: str
    models: list[str] | None = None
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    max_output_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    top_k: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    top_logprobs: int | None = None
    stream: bool = False
    store: Literal[False] | None = None
    previous_response_id: None = None
    include: list[INCLUDE_VALUES] | None = None
    reasoning: Reasoning | None = None
    text: TextConfig | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_tool_calls: int | None = None
    truncation: Literal["auto", "disabled"] | None = None
    metadata: Annotated[dict[str, str], Field(max_length=16)] | None = None
    user: _Str256 | None = None
    safety_identifier: str | None = None
    session_id: _Str256 | None = None
    prompt_cache_key: str | None = None
    service_tier: Literal["auto", "default", "fast", "flex", "priority", "scale"] | None = None
    provider: dict[str, Any] | None = None
    plugins: list[Plugin] | None = None
    background: bool | None = None


def _fail(message: str, param: str | None = None) -> SimHTTPError:
    return SimHTTPError(400, message, error_type="invalid_request", param=param)


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """Decode the body; malformed JSON or a non-object gives a 400. orjson first (a long
    replayed history is parsed several times faster), the standard library for what orjson
    refuses but JSON allows (integers beyond 64 bits, escaped lone surrogates)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    try:
        if body is None:
            body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _fail(f"Invalid JSON in request body: {exc}") from exc
    if not isinstance(body, dict):
        raise _fail("Request body must be a JSON object")
    return body


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate_request(body: dict[str, Any]) -> ResponsesRequest:
    """Validate a decoded body; returns the typed request or raises `SimHTTPError(400)`."""
    if body.get("store") is True:
        raise _fail("Stateless API: 'store' must be false; responses are not stored", "store")
    if body.get("previous_response_id") is not None:
        raise _fail(
            "Stateless API: 'previous_response_id' is not supported; resend the full history "
            "in 'input'",
            "previous_response_id",
        )
    if "model" not in body:
        models = body.get("models")
        if not (isinstance(models, list) and models and isinstance(models[0], str)):
            raise _fail("Missing required parameter: 'model'.", "model")
        body = {**body, "model": models[0]}  # the fallback list alone names the model
    try:
        req = ResponsesRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _loc(first["loc"])
        raise _fail(f"Invalid request parameters: {where}: {first['msg']}", where) from exc
    for n, tool in enumerate(req.tools or []):
        if tool.type == "function":
            try:
                FunctionTool.model_validate(tool.model_dump())
            except ValidationError as exc:
                first = exc.errors()[0]
                where = f"tools[{n}]." + _loc(first["loc"])
                raise _fail(f"Invalid request parameters: {where}: {first['msg']}", where) from exc
    for n, tool in enumerate(req.tools or []):
        if tool.type not in TOOL_TYPES and not tool.type.startswith("openrouter:"):
            raise _fail(f"tools[{n}].type: unknown tool type {tool.type!r}", f"tools[{n}].type")
    _validate_tool_choice(req.tool_choice)
    _validate_metadata(req.metadata or {})
    if isinstance(req.input, list):
        _validate_items(req.input)
    return req


def _validate_tool_choice(choice: str | dict[str, Any] | None) -> None:
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in TOOL_CHOICE_MODES:
            raise _fail(
                f"tool_choice: invalid value {choice!r}; expected one of auto, none, required "
                "or a tool object",
                "tool_choice",
            )
        return
    kind = choice.get("type")
    needed = TOOL_CHOICE_OBJECTS.get(kind) if isinstance(kind, str) else None
    if needed is None:
        raise _fail(f"tool_choice.type: invalid value {kind!r}", "tool_choice.type")
    for key in needed:
        if not choice.get(key):
            raise _fail(f"tool_choice.{key}: required for type {kind!r}", f"tool_choice.{key}")
    if kind == "allowed_tools" and choice.get("mode") not in ("auto", "required"):
        raise _fail("tool_choice.mode: must be 'auto' or 'required'", "tool_choice.mode")


def _validate_metadata(metadata: dict[str, str]) -> None:
    for key, value in metadata.items():
        if len(key) > METADATA_MAX_KEY or "[" in key or "]" in key:
            raise _fail(
                f"metadata: key {key[:80]!r} must be at most {METADATA_MAX_KEY} characters "
                "without brackets",
                "metadata",
            )
        if len(value) > METADATA_MAX_VALUE:
            raise _fail(
                f"metadata[{key!r}]: value must be at most {METADATA_MAX_VALUE} characters",
                f"metadata.{key}",
            )


def _validate_items(items: list[dict[str, Any]]) -> None:
    call_ids: set[str] = set()
    for n, item in enumerate(items):
        where = f"input[{n}]"
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            _validate_message(item, where)
        elif kind == "function_call":
            for key in ("call_id", "name", "arguments"):
                if not isinstance(item.get(key), str):
                    raise _fail(f"{where}.{key}: a string is required", f"{where}.{key}")
            call_ids.add(item["call_id"])
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise _fail(f"{where}.call_id: a string is required", f"{where}.call_id")
            if not isinstance(item.get("output"), str | list):
                raise _fail(f"{where}.output: a string or a list is required", f"{where}.output")
            if call_id not in call_ids:
                raise _fail(
                    f"No tool call found for function call output with call_id {call_id} "
                    f"({where}); a function_call with this call_id must come before it",
                    f"{where}.call_id",
                )
        elif kind == "reasoning":
            if not isinstance(item.get("summary"), list):
                raise _fail(f"{where}.summary: a list is required", f"{where}.summary")
            check_reasoning_item(item, where)
        elif isinstance(kind, str) and (
            kind in PASSTHROUGH_ITEM_TYPES or kind.startswith("openrouter:")
        ):
            continue
        else:
            raise _fail(f"Invalid input item type {kind!r} at {where}", f"{where}.type")


def _validate_message(item: dict[str, Any], where: str) -> None:
    role = item.get("role")
    if role not in ("user", "system", "developer", "assistant"):
        raise _fail(f"{where}.role: invalid role {role!r}", f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _fail(f"{where}.content: a string or a list of parts is required", f"{where}.content")
    allowed = ASSISTANT_PART_TYPES if role == "assistant" else USER_PART_TYPES
    for k, part in enumerate(content):
        ptype = part.get("type") if isinstance(part, dict) else None
        if ptype not in allowed:
            raise _fail(
                f"{where}.content[{k}]: invalid content part type {ptype!r} for role {role!r}",
                f"{where}.content[{k}].type",
            )
        at = f"{where}.content[{k}]"
        if ptype in ("input_text", "output_text") and not isinstance(part.get("text"), str):
            raise _fail(f"{at}.text: a string is required", f"{at}.text")
        if ptype == "input_image":
            if not isinstance(part.get("image_url"), str) and not part.get("file_id"):
                raise _fail(f"{at}.image_url: a URL string is required", f"{at}.image_url")
            if part.get("detail") not in (None, "auto", "high", "low", "original"):
                raise _fail(f"{at}.detail: invalid value {part['detail']!r}", f"{at}.detail")


def last_user_text(req: ResponsesRequest) -> str:
    """The text of the last user message (for the default echo answer)."""
    if isinstance(req.input, str):
        return req.input
    for item in reversed(req.input):
        if item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return " ".join(
                p.get("text", "") for p in content if isinstance(p, dict) and "text" in p
            )
    return ""
