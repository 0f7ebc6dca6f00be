"""Chat-completions body (as Open WebUI sends it) -> a typed Responses request.

Rules: system/developer/user/assistant messages become input items; assistant `tool_calls` and
`role: "tool"` results become `function_call` / `function_call_output` pairs (a call without
its output, or an output without its call, is dropped: OpenRouter rejects both); parameters are
renamed to their Responses names and dropped when the model does not support them; only the
fields of `ResponsesRequest` can leave (the outbound allowlist); metadata is cut to
OpenRouter's limits. Assistant messages lose their replay markers, and the stored items the
markers point at (`Replay`, loaded beforehand) are put back where they were produced.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .body_checks import NUMBER_RANGES, BodyError, check_messages, max_output_tokens, number_param
from .call_history import call_item_id, pair_calls, unique_call_ids
from .history import Replay, assistant_items, message_text, trim_old_tool_outputs
from .logs import get_logger
from .model_info import ModelInfo
from .wire import (
    EFFORT_ORDER,
    IMAGE_DETAILS,
    VERBOSITIES,
    AudioData,
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionTool,
    InputAudio,
    InputFile,
    InputImage,
    InputItem,
    InputMessage,
    InputPart,
    InputText,
    ReasoningConfig,
    ResponsesRequest,
    TextConfig,
    json_object,
)

METADATA_MAX_PAIRS = 16
METADATA_MAX_KEY = 64
METADATA_MAX_VALUE = 512


@dataclass(frozen=True)
class TranslateOptions:
    stream: bool = True
    reasoning_effort: str = "medium"
    reasoning_summary: str = "auto"  # auto | concise | detailed | disabled
    task: bool = False
    task_reasoning_effort: str = "low"
    replay_reasoning: bool = True
    send_user_id: bool = False
    send_session_id: bool = False
    send_chat_id: bool = False
    send_message_id: bool = False
    # Tools to offer instead of the body's (the pipe's own tool loop: from `__tools__`).
    tools: tuple[FunctionTool, ...] | None = None
    # Older tool outputs than this many user turns are cut to head and tail (0: never).
    tool_output_turns: int = 0


@dataclass(frozen=True)
class Identity:
    user_id: str = ""
    session_id: str = ""
    chat_id: str = ""
    message_id: str = ""


class TranslationError(ValueError):
    """The body cannot be turned into a request (e.g. no messages)."""


def _user_parts(content: Any) -> list[InputPart]:
    if isinstance(content, str) or content is None:
        return [InputText(text=content or "")]
    parts: list[InputPart] = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("text", "input_text"):
            parts.append(InputText(text=str(part.get("text") or "")))
        elif kind in ("image_url", "input_image"):
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            detail = (
                (image.get("detail") if isinstance(image, dict) else None)
                or part.get("detail")
                or "auto"
            )
            if url:
                parts.append(
                    InputImage(
                        image_url=str(url),
                        detail=detail if detail in IMAGE_DETAILS else "auto",
                    )
                )
        elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            audio = part["input_audio"]
            if audio.get("data"):
                parts.append(
                    InputAudio(
                        input_audio=AudioData(
                            data=str(audio["data"]), format=str(audio.get("format") or "wav")
                        )
                    )
                )
        elif kind in ("file", "input_file"):
            file = json_object(part.get("file")) or part
            if file.get("file_data") or file.get("file_url"):
                parts.append(
                    InputFile(
                        filename=file.get("filename"),
                        file_data=file.get("file_data"),
                        file_url=file.get("file_url"),
                    )
                )
        else:
            get_logger().debug("dropping unsupported user content part type %r", kind)
    return parts or [InputText(text="")]


def messages_to_input(messages: Any, replay: Replay | None = None) -> list[InputItem]:
    try:
        check_messages(messages)
    except BodyError as exc:
        raise TranslationError(str(exc)) from exc
    items: list[InputItem] = []
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        role = msg.get("role")
        content = msg.get("content")
        if role in ("system", "developer"):
            text = message_text(content)
            if text:
                items.append(InputMessage(role=role, content=[InputText(text=text)]))
        elif role == "user":
            items.append(InputMessage(role="user", content=_user_parts(content)))
        elif role == "assistant":
            items.extend(assistant_items(message_text(content), replay))
            for call in msg.get("tool_calls") or []:
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict) or not call.get("id") or not fn.get("name"):
                    continue
                args = fn.get("arguments")
                items.append(
                    FunctionCallItem(
                        id=call_item_id(str(call["id"])),
                        call_id=str(call["id"]),
                        name=str(fn["name"]),
                        arguments=args
                        if isinstance(args, str)
                        else "{}"
                        if args is None
                        else _dumps(args),
                    )
                )
        elif role == "tool":
            if msg.get("tool_call_id"):
                items.append(
                    FunctionCallOutputItem(
                        call_id=str(msg["tool_call_id"]), output=message_text(content)
                    )
                )
    return pair_calls(unique_call_ids(items))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _tools(body: dict[str, Any]) -> list[FunctionTool]:
    out: list[FunctionTool] = []
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            continue
        spec = json_object(tool.get("function")) or tool
        if not spec.get("name"):
            continue
        out.append(
            FunctionTool(
                name=str(spec["name"]),
                description=spec.get("description"),
                parameters=spec.get("parameters")
                if isinstance(spec.get("parameters"), dict)
                else {"type": "object", "properties": {}},
                strict=spec.get("strict") if isinstance(spec.get("strict"), bool) else None,
            )
        )
    return out


def _tool_choice(value: Any) -> str | dict[str, Any] | None:
    if isinstance(value, str) and value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict):
        fn = value.get("function")
        name = fn.get("name") if isinstance(fn, dict) else value.get("name")
        if name:
            return {"type": "function", "name": str(name)}
    return None


def _text_format(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind in ("text", "json_object"):
        return {"type": kind}
    if kind == "json_schema":
        spec = json_object(response_format.get("json_schema")) or response_format
        fmt: dict[str, Any] = {
            "type": "json_schema",
            "name": str(spec.get("name") or "response"),
            "schema": spec.get("schema") or {},
        }
        if spec.get("description"):
            fmt["description"] = spec["description"]
        if isinstance(spec.get("strict"), bool):
            fmt["strict"] = spec["strict"]
        return fmt
    return None


def _closest_effort(effort: str, supported: tuple[str, ...]) -> str:
    if not supported or effort in supported:
        return effort
    ranked = [e for e in EFFORT_ORDER if e in supported]
    if not ranked:
        return effort
    want = EFFORT_ORDER.index(effort) if effort in EFFORT_ORDER else 3
    return min(ranked, key=lambda e: abs(EFFORT_ORDER.index(e) - want))


def _reasoning(
    body: dict[str, Any], model: ModelInfo | None, opts: TranslateOptions
) -> ReasoningConfig | None:
    if model is not None and not model.reasoning:
        return None
    if opts.task:
        effort = opts.task_reasoning_effort
    else:
        requested = body.get("reasoning_effort")
        if isinstance(body.get("reasoning"), dict) and body["reasoning"].get("effort"):
            requested = body["reasoning"]["effort"]
        effort = str(requested or opts.reasoning_effort).lower()
    if effort not in EFFORT_ORDER:
        effort = "medium"
    supported = model.supported_efforts if model else ()
    if effort == "none":
        if model is not None and model.reasoning_mandatory:
            return None  # the model reasons anyway; let it use its default effort
        return (
            ReasoningConfig(effort="none")
            if "none" in supported
            else ReasoningConfig(enabled=False)
        )
    summary = None if opts.task or opts.reasoning_summary == "disabled" else opts.reasoning_summary
    return ReasoningConfig(effort=_closest_effort(effort, supported), summary=summary)  # type: ignore[arg-type]


def sanitize_metadata(raw: dict[str, Any]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for key, value in raw.items():
        if len(out) >= METADATA_MAX_PAIRS:
            break
        if value is None or value == "":
            continue
        key = re.sub(r"[\[\]]", "", str(key))[:METADATA_MAX_KEY]
        if key:
            out[key] = str(value)[:METADATA_MAX_VALUE]
    return out or None


def build_request(
    body: dict[str, Any],
    slug: str,
    model: ModelInfo | None,
    opts: TranslateOptions,
    who: Identity,
    replay: Replay | None = None,
) -> ResponsesRequest:
    """The whole translation. `model` is the catalog entry (None when the catalog is unknown);
    `replay` the stored artifacts the history's markers point at."""

    def supported(field: str) -> bool:
        return model is None or model.supports(field)

    fields: dict[str, Any] = {
        "model": slug,
        "input": trim_old_tool_outputs(
            messages_to_input(body.get("messages"), replay), opts.tool_output_turns
        ),
        "stream": opts.stream,
    }
    try:  # checked even when the model drops them: a bad number is refused, not hidden
        numbers = {name: number_param(name, body.get(name)) for name in NUMBER_RANGES}
        max_tokens = max_output_tokens(body)
    except BodyError as exc:
        raise TranslationError(str(exc)) from exc
    for name, value in numbers.items():
        if value is not None and supported(name):
            fields[name] = value
    if max_tokens is not None and supported("max_output_tokens"):
        fields["max_output_tokens"] = max_tokens
    if supported("reasoning"):
        reasoning = _reasoning(body, model, opts)
        if reasoning is not None:
            fields["reasoning"] = reasoning
            if (
                opts.replay_reasoning
                and not opts.task
                and reasoning.enabled is not False
                and reasoning.effort != "none"
            ):
                fields["include"] = ["reasoning.encrypted_content"]
    if supported("text"):
        fmt = _text_format(body.get("response_format"))
        verbosity = body.get("verbosity")
        verbosity = verbosity if verbosity in VERBOSITIES else None
        if fmt or verbosity:
            fields["text"] = TextConfig(format=fmt, verbosity=verbosity)
    if not opts.task and supported("tools") and (model is None or model.tools):
        tools = list(opts.tools) if opts.tools is not None else _tools(body)
        if tools:
            fields["tools"] = tools
            choice = _tool_choice(body.get("tool_choice"))
            if choice is not None and supported("tool_choice"):
                fields["tool_choice"] = choice
            if isinstance(body.get("parallel_tool_calls"), bool) and supported(
                "parallel_tool_calls"
            ):
                fields["parallel_tool_calls"] = body["parallel_tool_calls"]
    metadata: dict[str, Any] = {}
    if opts.send_user_id and who.user_id:
        fields["user"] = who.user_id[:256]
        metadata["user_id"] = who.user_id
    if opts.send_session_id and who.session_id:
        fields["session_id"] = who.session_id[:256]
        metadata["session_id"] = who.session_id
    if opts.send_chat_id and who.chat_id:
        metadata["chat_id"] = who.chat_id
    if opts.send_message_id and who.message_id:
        metadata["message_id"] = who.message_id
    if metadata:
        fields["metadata"] = sanitize_metadata(metadata)
    return ResponsesRequest(**fields)
