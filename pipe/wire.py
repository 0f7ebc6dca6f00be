"""Typed wire objects of the OpenRouter Responses API: the request, results, error bodies and
catalog entries (the stream's events are in stream_events.py).

Items the pipe may replay later (reasoning, function calls) keep every field they came with.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

# ---------------------------------------------------------------- request (outbound allowlist)


# Value lists, each written once: the pipe validates and orders by these same tuples.
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
EFFORT_ORDER: tuple[Effort, ...] = get_args(Effort)  # weakest to strongest
Verbosity = Literal["low", "medium", "high", "xhigh", "max"]
VERBOSITIES: tuple[Verbosity, ...] = get_args(Verbosity)
ImageDetail = Literal["auto", "high", "low", "original"]
IMAGE_DETAILS: tuple[ImageDetail, ...] = get_args(ImageDetail)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


# Lenient field types for what upstream sends outside the stream (error bodies, catalog
# entries): a value of the wrong JSON type reads as absent instead of failing the whole body.
def json_object(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (never the wrong type)."""
    return value if isinstance(value, dict) else {}


_object_or_empty = json_object


def _list_or_empty(value: Any) -> Any:
    return value if isinstance(value, list) else []


def _text_or_none(value: Any) -> Any:
    return None if value is None or isinstance(value, dict | list) else str(value)


def _int_or_none(value: Any) -> Any:
    return value if type(value) is int else None


def _number_or_none(value: Any) -> Any:
    return value if type(value) in (int, float) else None


def _scalar_or_none(value: Any) -> Any:
    return value if type(value) in (int, str) else None


JsonObject = Annotated[dict[str, Any], BeforeValidator(_object_or_empty)]
JsonList = Annotated[list[Any], BeforeValidator(_list_or_empty)]
LenientText = Annotated[str | None, BeforeValidator(_text_or_none)]
LenientInt = Annotated[int | None, BeforeValidator(_int_or_none)]
LenientNumber = Annotated[float | None, BeforeValidator(_number_or_none)]
ErrorCode = Annotated[str | int | None, BeforeValidator(_scalar_or_none)]


class CacheControl(BaseModel):
    """An explicit prompt-cache breakpoint (Anthropic-style) on a content block."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["ephemeral"] = "ephemeral"
    ttl: Literal["5m", "1h"] | None = None


class InputText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["input_text"] = "input_text"
    text: str
    cache_control: CacheControl | None = None


class InputImage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["input_image"] = "input_image"
    image_url: str
    detail: ImageDetail = "auto"


class InputFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["input_file"] = "input_file"
    filename: str | None = None
    file_data: str | None = None
    file_url: str | None = None


class AudioData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: str
    format: str


class InputAudio(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["input_audio"] = "input_audio"
    input_audio: AudioData


InputPart = InputText | InputImage | InputFile | InputAudio


class InputMessage(BaseModel):
    """User, system and developer turns (item form) and assistant text (easy form)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["message"] = "message"
    role: Literal["user", "system", "developer", "assistant"]
    content: str | list[InputPart]


class FunctionCallItem(BaseModel):
    model_config = ConfigDict(extra="allow")  # replayed items keep status/namespace/etc.
    type: Literal["function_call"] = "function_call"
    id: str
    call_id: str
    name: str
    arguments: str


class FunctionCallOutputItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function_call_output"] = "function_call_output"
    call_id: str
    output: str


class ReplayItem(BaseModel):
    """An output item replayed verbatim (reasoning with encrypted content, server-tool items)."""

    model_config = ConfigDict(extra="allow")
    type: str


InputItem = InputMessage | FunctionCallItem | FunctionCallOutputItem | ReplayItem


class FunctionTool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"] = "function"
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ReasoningConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    effort: Effort | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    enabled: bool | None = None
    max_tokens: int | None = None


class TextConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: dict[str, Any] | None = None
    verbosity: Verbosity | None = None


class ResponsesRequest(BaseModel):
    """Exactly the fields the pipe may send to `POST /responses`: the outbound allowlist."""

    model_config = ConfigDict(extra="forbid")
    model: str
    models: list[str] | None = None  # fallbacks, in priority order
    input: list[InputItem]
    stream: bool = False
    instructions: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    top_logprobs: int | None = None
    reasoning: ReasoningConfig | None = None
    include: list[str] | None = None
    text: TextConfig | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    session_id: str | None = None
    provider: dict[str, Any] | None = None  # routing preferences
    plugins: list[dict[str, Any]] | None = None  # web, context-compression, ...

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))


# ---------------------------------------------------------------- results


class InputTokensDetails(_Wire):
    cached_tokens: int = 0
    cache_write_tokens: int | None = None


class OutputTokensDetails(_Wire):
    reasoning_tokens: int = 0


class Usage(_Wire):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: InputTokensDetails | None = None
    output_tokens_details: OutputTokensDetails | None = None
    cost: float | None = None

    @property
    def cached_tokens(self) -> int:
        return self.input_tokens_details.cached_tokens if self.input_tokens_details else 0

    @property
    def reasoning_tokens(self) -> int:
        return self.output_tokens_details.reasoning_tokens if self.output_tokens_details else 0


class Annotation(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    url: str | None = None
    title: str | None = None
    content: str | None = None


class OutputItem(BaseModel):
    """Any output item; unknown fields kept so the item can be replayed exactly."""

    model_config = ConfigDict(extra="allow")
    type: str
    id: str | None = None
    status: str | None = None
    role: str | None = None
    content: list[dict[str, Any]] | None = None
    summary: list[dict[str, Any]] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    action: dict[str, Any] | None = None

    def message_text(self) -> str:
        parts = self.content or []
        return "".join(p.get("text") or "" for p in parts if p.get("type") == "output_text")

    def annotations(self) -> list[Annotation]:
        out: list[Annotation] = []
        for part in self.content or []:
            for ann in part.get("annotations") or []:
                if isinstance(ann, dict) and ann.get("type"):
                    out.append(Annotation.model_validate(ann))
        return out

    def reasoning_text(self) -> str:
        texts = [s.get("text") or "" for s in self.summary or [] if isinstance(s, dict)]
        if not any(texts):
            texts = [c.get("text") or "" for c in self.content or [] if isinstance(c, dict)]
        return "\n\n".join(t for t in texts if t)


class ResponseObject(_Wire):
    id: str | None = None
    model: str | None = None
    status: str | None = None
    output: list[OutputItem] = Field(default_factory=list)
    usage: Usage | None = None
    error: dict[str, Any] | None = None
    error_type: str | None = None
    incomplete_details: dict[str, Any] | None = None
    output_text: str | None = None

    def text(self) -> str:
        text = "".join(i.message_text() for i in self.output if i.type == "message")
        return text or (self.output_text or "")

    def reasoning(self) -> str:
        return "\n\n".join(i.reasoning_text() for i in self.output if i.type == "reasoning")


# ---------------------------------------------------------------- HTTP error bodies


class ErrorAvailability(_Wire):
    code: LenientText = None
    retry_after: LenientNumber = None


class ErrorMetadata(_Wire):
    reasons: JsonList = Field(default_factory=list)
    flagged_input: LenientText = None
    provider_name: LenientText = None
    raw: Any = None  # the provider's own error, when OpenRouter passes it on


class ErrorDetail(_Wire):
    code: ErrorCode = None
    message: LenientText = None
    error_type: LenientText = None
    metadata: Annotated[ErrorMetadata, BeforeValidator(_object_or_empty)] = Field(
        default_factory=ErrorMetadata
    )
    availability: Annotated[ErrorAvailability, BeforeValidator(_object_or_empty)] = Field(
        default_factory=ErrorAvailability
    )


class ErrorBody(_Wire):
    """A non-2xx JSON body: `{"error": {"code", "message", "metadata", ...}}`."""

    error: Annotated[ErrorDetail, BeforeValidator(_object_or_empty)] = Field(
        default_factory=ErrorDetail
    )
    error_type: LenientText = None


# ---------------------------------------------------------------- /models entries


class ModelArchitecture(_Wire):
    input_modalities: JsonList = Field(default_factory=list)


class ModelTopProvider(_Wire):
    max_completion_tokens: LenientInt = None


def _nonempty_object_or_none(value: Any) -> Any:
    return value if isinstance(value, dict) and value else None


class ModelReasoning(_Wire):
    mandatory: Annotated[bool, BeforeValidator(bool)] = False
    supported_efforts: JsonList = Field(default_factory=list)
    supports_max_tokens: Annotated[bool, BeforeValidator(bool)] = False


class CatalogEntry(_Wire):
    """One `/models` entry, as far as the pipe reads it."""

    id: LenientText = None
    name: LenientText = None
    context_length: LenientInt = None
    supported_parameters: JsonList = Field(default_factory=list)
    architecture: Annotated[ModelArchitecture, BeforeValidator(_object_or_empty)] = Field(
        default_factory=ModelArchitecture
    )
    pricing: JsonObject = Field(default_factory=dict)
    top_provider: Annotated[ModelTopProvider, BeforeValidator(_object_or_empty)] = Field(
        default_factory=ModelTopProvider
    )
    reasoning: Annotated[ModelReasoning | None, BeforeValidator(_nonempty_object_or_none)] = None
    description: LenientText = None
