"""Typed Responses events -> what the user sees, in one ordered pass.

`ResponseAccumulator.feed(batch)` returns the text and reasoning deltas of a batch plus the
Open WebUI events (status, source) to emit, and collects what a tool loop needs from the run:
the completed `function_call` and `reasoning` items, the final output, usage and status.
Authoritative content comes from `output_item.done` / the terminal response: text or
reasoning that never arrived as deltas (some providers only send it there) is shown from them,
and what did arrive as deltas is never repeated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .coalesce import REASONING, TEXT
from .errors import PipeError, error_from_stream
from .redaction import (
    CITATION_EXCERPT_MAX,
    CITATION_TITLE_MAX,
    CITATION_URL_MAX,
    STATUS_MAX,
    user_text,
)
from .stream_events import (
    AnnotationAddedEvent,
    AnyEvent,
    OutputItemEvent,
    ReasoningDeltaEvent,
    ReasoningDoneEvent,
    ResponseLifecycleEvent,
    TextDeltaEvent,
    TextDoneEvent,
)
from .wire import OutputItem, ResponseObject, Usage

SEARCH_ITEM_TYPES = frozenset({"web_search_call", "openrouter:web_search"})


def status_event(
    description: str, *, done: bool, hidden: bool = False, **extra: Any
) -> dict[str, Any]:
    """Status lines (and their string extras, e.g. a search query) are redacted and capped."""
    extra = {k: user_text(v, STATUS_MAX) if isinstance(v, str) else v for k, v in extra.items()}
    return {
        "type": "status",
        "data": {
            "description": user_text(description, STATUS_MAX),
            "done": done,
            "hidden": hidden,
            **extra,
        },
    }


def source_event(url: str, title: str, excerpt: str) -> dict[str, Any]:
    """A citation; its url, title and excerpt come from upstream, so they are redacted and capped."""
    url = user_text(url, CITATION_URL_MAX)
    excerpt = user_text(excerpt, CITATION_EXCERPT_MAX)
    name = user_text(title, CITATION_TITLE_MAX) if title else url
    return {
        "type": "source",
        "data": {
            "source": {"name": name, "url": url},
            "document": [excerpt or name],
            "metadata": [{"source": url, "name": name, "url": url}],
        },
    }


@dataclass
class RunOutcome:
    """What one upstream run produced (what a tool loop consumes)."""

    text: str = ""
    reasoning: str = ""
    function_calls: list[OutputItem] = field(default_factory=list)
    reasoning_items: list[OutputItem] = field(default_factory=list)
    output: list[OutputItem] = field(default_factory=list)
    usage: Usage | None = None
    status: str = ""
    incomplete_reason: str = ""
    response_id: str = ""
    model: str = ""
    sources: list[str] = field(default_factory=list)


class ResponseAccumulator:
    """One per upstream run. `feed` returns (segments, events) for a batch of events."""

    def __init__(self, *, show_status: bool = True) -> None:
        self.outcome = RunOutcome()
        self.failure: PipeError | None = None  # set by response.failed
        self._show_status = show_status
        self._text_parts: list[str] = []
        self._reasoning_parts: list[str] = []
        self._streamed_text: set[str] = set()
        self._streamed_reasoning: set[str] = set()
        self._thinking_shown = False
        self._thinking_since: float | None = None  # set while "Thinking…" is the open status
        self._seen_urls: set[str] = set()
        self._events: list[dict[str, Any]] = []
        self._segments: list[tuple[str, str]] = []

    def feed(self, batch: list[AnyEvent]) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
        self._segments, self._events = [], []
        for event in batch:
            kind = event.type
            if isinstance(event, TextDeltaEvent):  # output_text and refusal deltas
                self._text(event.item_id or "", event.delta)
            elif isinstance(event, ReasoningDeltaEvent):
                self._reasoning(event.item_id or "", event.delta)
            elif isinstance(event, AnnotationAddedEvent):
                ann = event.annotation
                if ann.type == "url_citation" and ann.url:
                    self._cite(ann.url, ann.title or "", ann.content or "")
            elif isinstance(event, OutputItemEvent):
                self._item(kind, event.item)
            elif isinstance(event, TextDoneEvent):
                if event.item_id not in self._streamed_text and event.text:
                    self._text(event.item_id or "", event.text)
            elif isinstance(event, ReasoningDoneEvent):
                if event.item_id not in self._streamed_reasoning and event.text:
                    self._reasoning(event.item_id or "", event.text)
            elif isinstance(event, ResponseLifecycleEvent) and event.response is not None:
                self._lifecycle(kind, event.response)
        return self._segments, self._events

    # -- pieces

    def _text(self, item_id: str, delta: str) -> None:
        if not delta:
            return
        if self._thinking_since is not None:  # the answer starts: close the thinking status
            seconds = time.monotonic() - self._thinking_since
            self._thinking_since = None
            self._emit(status_event(f"Thought for {seconds:.1f} s", done=True))
        self._streamed_text.add(item_id)
        self._text_parts.append(delta)
        self._segments.append((TEXT, delta))

    def _reasoning(self, item_id: str, delta: str) -> None:
        if not delta:
            return
        self._streamed_reasoning.add(item_id)
        self._reasoning_parts.append(delta)
        self._segments.append((REASONING, delta))

    def _emit(self, event: dict[str, Any]) -> None:
        self._events.append(event)

    def _cite(self, url: str, title: str, excerpt: str) -> None:
        if url in self._seen_urls:
            return
        self._seen_urls.add(url)
        self.outcome.sources.append(url)
        self._emit(source_event(url, title, excerpt))

    def _item(self, kind: str, item: OutputItem) -> None:
        added = kind == "response.output_item.added"
        if item.type == "reasoning":
            if added and self._show_status and not self._thinking_shown:
                self._thinking_shown = True
                self._thinking_since = time.monotonic()
                self._emit(status_event("Thinking…", done=False))
            if not added:
                self.outcome.reasoning_items.append(item)
                if item.id not in self._streamed_reasoning:
                    self._reasoning(item.id or "", item.reasoning_text())
        elif item.type in SEARCH_ITEM_TYPES:
            query = (item.action or {}).get("query") or ""
            if self._show_status:
                if added:
                    self._emit(status_event("Searching the web…", done=False, action="web_search"))
                else:
                    label = f"Searched the web: {query}" if query else "Searched the web"
                    self._emit(status_event(label, done=True, action="web_search", query=query))
        elif item.type == "function_call" and not added:
            self.outcome.function_calls.append(item)
        elif item.type == "message" and not added:
            if item.id not in self._streamed_text:
                self._text(item.id or "", item.message_text())
            for ann in item.annotations():
                if ann.type == "url_citation" and ann.url:
                    self._cite(ann.url, ann.title or "", ann.content or "")

    def _lifecycle(self, kind: str, response: ResponseObject) -> None:
        out = self.outcome
        out.response_id = response.id or out.response_id
        out.model = response.model or out.model
        if kind not in ("response.completed", "response.incomplete", "response.failed"):
            return
        out.status = response.status or kind.rsplit(".", 1)[-1]
        out.usage = response.usage
        out.output = response.output
        if kind == "response.failed":
            err = response.error or {}
            # Raised by the caller after this batch's deltas were taken (they may be shown).
            self.failure = error_from_stream(
                err.get("code"),
                str(err.get("message") or "The model failed to answer."),
                response.error_type,
            )
            if response.id:
                self.failure.details["response_id"] = response.id
            return
        if kind == "response.incomplete":
            out.incomplete_reason = str((response.incomplete_details or {}).get("reason") or "")
        # Items the stream never announced with output_item.done (seen with some providers).
        seen_calls = {i.call_id for i in out.function_calls}
        seen_reasoning = {i.id for i in out.reasoning_items}
        for item in response.output:
            if item.type == "function_call" and item.call_id not in seen_calls:
                out.function_calls.append(item)
            elif item.type == "reasoning" and item.id not in seen_reasoning:
                out.reasoning_items.append(item)
                if item.id not in self._streamed_reasoning:
                    self._reasoning(item.id or "", item.reasoning_text())
            elif item.type == "message" and item.id not in self._streamed_text:
                self._text(item.id or "", item.message_text())
            if item.type == "message":
                for ann in item.annotations():
                    if ann.type == "url_citation" and ann.url:
                        self._cite(ann.url, ann.title or "", ann.content or "")

    def finish(self) -> RunOutcome:
        self.outcome.text = "".join(self._text_parts)
        self.outcome.reasoning = "".join(self._reasoning_parts)
        return self.outcome
