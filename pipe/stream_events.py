"""Stream events of the OpenRouter Responses API, and their decoder.

Every SSE `data:` payload is decoded once, by `decode_event`, into one of the event models
below; an event type the pipe does not know becomes `UnknownEvent` (kept, never fatal).
Text and reasoning deltas, nearly every event of a stream, become plain slotted `DeltaEvent`s
whose few fields are type-checked by hand (a validated model per delta cost twice the CPU).
They keep no reference to the decoded payload: a burst read holds a thousand events at once,
and every container they kept alive would be traced, and promoted, by the garbage collector
of the host process (Open WebUI's, with its whole heap).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ConfigDict

from .wire import Annotation, OutputItem, ResponseObject, _Wire


class StreamEvent(_Wire):
    type: str
    sequence_number: int | None = None


class ResponseLifecycleEvent(StreamEvent):
    """response.created / in_progress / completed / incomplete / failed / queued."""

    response: ResponseObject | None = None


class OutputItemEvent(StreamEvent):
    output_index: int = 0
    item: OutputItem


class DeltaEvent:
    """A text, refusal or reasoning delta: most of every stream, so a plain slotted object
    checked by hand in `decode_event` instead of a validated model (about 3x cheaper)."""

    __slots__ = ("_output_index", "_sequence_number", "delta", "item_id", "type")

    def __init__(
        self,
        type: str,
        delta: str = "",
        item_id: str | None = None,
        output_index: Any = 0,
        sequence_number: Any = None,
    ) -> None:
        self.type = type
        self.delta = delta
        self.item_id = item_id
        # As received; checked when read (rarely), not for every delta.
        self._output_index = output_index
        self._sequence_number = sequence_number

    @property
    def output_index(self) -> int:
        value = self._output_index
        return value if type(value) is int else 0

    @property
    def sequence_number(self) -> int | None:
        value = self._sequence_number
        return value if type(value) is int else None

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, DeltaEvent)
            and self.type == other.type
            and self.delta == other.delta
            and self.item_id == other.item_id
        )

    __hash__ = None  # type: ignore[assignment]  # compared by value

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(type={self.type!r}, item_id={self.item_id!r}, delta={self.delta!r})"


class TextDeltaEvent(DeltaEvent):
    """response.output_text.delta and response.refusal.delta."""

    __slots__ = ()


class TextDoneEvent(StreamEvent):
    item_id: str | None = None
    output_index: int = 0
    text: str = ""


class AnnotationAddedEvent(StreamEvent):
    item_id: str | None = None
    output_index: int = 0
    annotation: Annotation


class ReasoningDeltaEvent(DeltaEvent):
    """reasoning_summary_text.delta and reasoning_text.delta."""

    __slots__ = ()


class ReasoningDoneEvent(StreamEvent):
    item_id: str | None = None
    output_index: int = 0
    summary_index: int = 0
    content_index: int = 0
    text: str = ""


class ReasoningPartEvent(StreamEvent):
    item_id: str | None = None
    output_index: int = 0
    summary_index: int = 0


class FunctionArgsEvent(StreamEvent):
    item_id: str | None = None
    output_index: int = 0
    delta: str | None = None
    arguments: str | None = None
    name: str | None = None


class ErrorEvent(StreamEvent):
    """`error` (flat code/message) and `response.error` / nested `{"error": {...}}` shapes."""

    code: str | int | None = None
    message: str | None = None
    param: str | None = None
    error: dict[str, Any] | None = None

    def resolved(self) -> tuple[str | int | None, str]:
        nested = self.error or {}
        code = self.code if self.code is not None else nested.get("code")
        message = self.message or nested.get("message") or "The model stream reported an error."
        return code, str(message)


class ToolProgressEvent(StreamEvent):
    """web_search_call.* and other hosted-tool progress events."""

    item_id: str | None = None
    output_index: int = 0


class UnknownEvent(StreamEvent):
    model_config = ConfigDict(extra="allow")


class _DeltaShape(StreamEvent):
    """The lenient (pydantic) reading of a delta whose fields are not the plain JSON types."""

    item_id: str | None = None
    output_index: int = 0
    delta: str = ""


_DELTA_TYPES: dict[str, type[DeltaEvent]] = {
    "response.output_text.delta": TextDeltaEvent,
    "response.refusal.delta": TextDeltaEvent,
    "response.reasoning_summary_text.delta": ReasoningDeltaEvent,
    "response.reasoning_text.delta": ReasoningDeltaEvent,
}

_EVENT_TYPES: dict[str, type[StreamEvent]] = {
    "response.function_call_arguments.delta": FunctionArgsEvent,
    "response.function_call_arguments.done": FunctionArgsEvent,
    "response.output_text.done": TextDoneEvent,
    "response.output_text.annotation.added": AnnotationAddedEvent,
    "response.reasoning_summary_text.done": ReasoningDoneEvent,
    "response.reasoning_text.done": ReasoningDoneEvent,
    "response.reasoning_summary_part.added": ReasoningPartEvent,
    "response.reasoning_summary_part.done": ReasoningPartEvent,
    "response.output_item.added": OutputItemEvent,
    "response.output_item.done": OutputItemEvent,
    "response.created": ResponseLifecycleEvent,
    "response.in_progress": ResponseLifecycleEvent,
    "response.queued": ResponseLifecycleEvent,
    "response.completed": ResponseLifecycleEvent,
    "response.incomplete": ResponseLifecycleEvent,
    "response.failed": ResponseLifecycleEvent,
    "error": ErrorEvent,
    "response.error": ErrorEvent,
}

TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
# A non-streaming result's status -> the terminal event a stream would have ended with.
TERMINAL_BY_STATUS = {
    "completed": "response.completed",
    "incomplete": "response.incomplete",
    "failed": "response.failed",
}

# What `decode_event` returns: one element of a batch.
AnyEvent = StreamEvent | DeltaEvent


class EventDecodeError(ValueError):
    """A `data:` payload that is not a JSON object (the stream is corrupt)."""


def decode_event(data: str | bytes) -> AnyEvent:
    """Decode one SSE data payload into its typed event (unknown types tolerated)."""
    return _typed(_payload(data), data)


def _payload(data: str | bytes) -> dict[str, Any]:
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise EventDecodeError(f"invalid JSON in stream event: {data[:80]!r}") from exc
    if type(raw) is not dict:
        raise EventDecodeError(f"stream event is not an object: {data[:80]!r}")
    return raw


def _typed(raw: dict[str, Any], data: str | bytes) -> AnyEvent:
    kind = raw.get("type")
    if type(kind) is str:
        delta_cls = _DELTA_TYPES.get(kind)
        if delta_cls is not None:  # the hot path: plain JSON types taken as they are
            delta = raw.get("delta", "")
            item_id = raw.get("item_id")
            if type(delta) is str and (item_id is None or type(item_id) is str):
                return delta_cls(
                    kind, delta, item_id, raw.get("output_index"), raw.get("sequence_number")
                )
            return _lenient_delta(delta_cls, kind, raw)
    else:
        if isinstance(raw.get("error"), dict):  # chat-style error chunk without a type
            raw["type"] = kind = "error"
        else:
            raise EventDecodeError(f"stream event without a type: {data[:80]!r}")
    cls = _EVENT_TYPES.get(kind)
    if cls is None:
        if kind.startswith(("response.web_search_call.", "response.file_search_call.")):
            cls = ToolProgressEvent
        else:
            cls = UnknownEvent
    try:
        return cls.model_validate(raw)
    except ValueError:
        # A known type with an unexpected shape is tolerated like an unknown one.
        return UnknownEvent.model_validate(raw)


def _lenient_delta(cls: type[DeltaEvent], kind: str, raw: dict[str, Any]) -> AnyEvent:
    """A delta whose fields are not the plain JSON types gets the same lenient validation as
    every other event; one that fails it is tolerated as an unknown event."""
    try:
        shape = _DeltaShape.model_validate(raw)
    except ValueError:
        return UnknownEvent.model_validate(raw)
    return cls(kind, shape.delta, shape.item_id, shape.output_index, shape.sequence_number)


class DecodedRead:
    """The events of one network read, in order. Consecutive deltas of the same kind and item
    are merged into one event (the first's, with the joined text): a burst read of a thousand
    deltas becomes one object to keep, feed and show, which is what the consumer does with
    them anyway. `done`: the `[DONE]` sentinel was read (what follows it is ignored);
    `corrupt`: a payload that is not a JSON event (the events before it are kept);
    `terminal`: a terminal event was read; `error`: the last error event read."""

    __slots__ = ("corrupt", "done", "error", "events", "terminal")

    def __init__(self, payloads: list[str]) -> None:
        self.events: list[AnyEvent] = []
        self.done = False
        self.corrupt: EventDecodeError | None = None
        self.terminal = False
        self.error: ErrorEvent | None = None
        events = self.events
        run: DeltaEvent | None = None  # the delta that later ones of the same item join
        parts: list[str] = []
        for data in payloads:
            if data == "[DONE]":
                self.done = True
                break
            try:
                raw = _payload(data)
            except EventDecodeError as exc:
                self.corrupt = exc
                break
            if (
                run is not None
                and raw.get("type") == run.type
                and raw.get("item_id") == run.item_id
                and type(delta := raw.get("delta", "")) is str
            ):
                parts.append(delta)  # continues the run: no event object needed
                continue
            event = _typed(raw, data)
            if isinstance(event, DeltaEvent):
                if len(parts) > 1 and run is not None:
                    run.delta = "".join(parts)
                run, parts = event, [event.delta]
            else:
                if run is not None:
                    if len(parts) > 1:
                        run.delta = "".join(parts)
                    run, parts = None, []
                if event.type in TERMINAL_EVENTS:
                    self.terminal = True
                elif isinstance(event, ErrorEvent):
                    self.error = event
            events.append(event)
        if run is not None and len(parts) > 1:
            run.delta = "".join(parts)

    @property
    def has_delta(self) -> bool:
        return any(isinstance(e, DeltaEvent) for e in self.events)
