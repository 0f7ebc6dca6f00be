"""Reduce a pipe's stream and emitted events into the message a user sees.

Follows Open WebUI 0.12.4's middleware (`streaming_chat_response_handler`) and the browser's
event handling: `delta.content`, `reasoning_content`/`reasoning`/`thinking`, inline
reasoning tags, `tool_calls`, `usage`, `error`, `{"event": ...}` carriers, `annotations`,
and the emitter events `status`, `source`/`citation`, `message`/`replace`, `notification`,
`chat:*`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from simulator.host.usage import merge_usage, normalize_usage

# middleware.py DEFAULT_REASONING_TAGS
DEFAULT_REASONING_TAGS = [
    ("<think>", "</think>"),
    ("<thinking>", "</thinking>"),
    ("<reason>", "</reason>"),
    ("<reasoning>", "</reasoning>"),
    ("<thought>", "</thought>"),
    ("<Thought>", "</Thought>"),
    ("<|begin_of_thought|>", "<|end_of_thought|>"),
    ("◁think▷", "◁/think▷"),
]

REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")


def host_events(data: Any) -> list[dict[str, Any]]:
    """Events Open WebUI's middleware itself emits for a chunk on the UI path.

    `delta.annotations` url_citations become `source` events; `delta.images` a
    `chat:message:files` event (the real host stores the image first; the URL is kept here).
    """
    if not isinstance(data, dict) or not data.get("choices"):
        return []
    delta = (data["choices"][0] or {}).get("delta")
    if not isinstance(delta, dict):
        return []
    events = []
    for note in delta.get("annotations") or []:
        if isinstance(note, dict) and note.get("type") == "url_citation" and "url_citation" in note:
            cite = note["url_citation"]
            url = cite.get("url", "")
            title = cite.get("title", url)
            events.append(
                {
                    "type": "source",
                    "data": {
                        "source": {"name": title, "url": url},
                        "document": [title],
                        "metadata": [{"source": url, "name": title}],
                    },
                }
            )
    images = [_image_url(image) for image in delta.get("images") or []]
    if images:
        files = [{"type": "image", "url": url} for url in images if url]
        events.append({"type": "chat:message:files", "data": {"files": files}})
    return events


class SSEParser:
    """Incremental SSE decoder: returns each `data:` payload (JSON-decoded when possible)."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, text: str | bytes) -> list[Any]:
        if isinstance(text, bytes | bytearray):
            text = bytes(text).decode("utf-8")
        self._buffer += text
        *blocks, self._buffer = self._buffer.split("\n\n")
        return [p for block in blocks for p in _block_payloads(block)]

    def close(self) -> list[Any]:
        rest, self._buffer = self._buffer, ""
        return _block_payloads(rest)


def _block_payloads(block: str) -> list[Any]:
    out = []
    for line in block.split("\n"):
        if not line.startswith("data:"):
            continue
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            out.append("[DONE]")
            continue
        try:
            out.append(json.loads(data))
        except ValueError:
            out.append(data)
    return out


def parse_sse(raw: str | bytes) -> list[Any]:
    parser = SSEParser()
    return parser.feed(raw) + parser.close()


@dataclass
class ReducedMessage:
    """What the user sees once the answer is done."""

    content: str = ""
    reasoning: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)
    status_history: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    embeds: list[Any] = field(default_factory=list)
    follow_ups: list[str] = field(default_factory=list)
    title: str | None = None
    selected_model_id: str | None = None
    emitted_content: str | None = None  # content as `message`/`replace` events left it live
    done: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class Reducer:
    """Feed chunks and events in arrival order; read `.message` at the end."""

    def __init__(
        self,
        reasoning_tags: list[tuple[str, str]] | bool | None = None,
        derive_host_events: bool = True,
    ) -> None:
        """`derive_host_events=False` when the host's own events are already in the timeline."""
        self.message = ReducedMessage()
        self._derive_host_events = derive_host_events
        if reasoning_tags is False:
            self._tags: list[tuple[str, str]] = []
        elif isinstance(reasoning_tags, list | tuple) and reasoning_tags:
            self._tags = (
                [tuple(reasoning_tags)]
                if isinstance(reasoning_tags[0], str)
                else [tuple(pair) for pair in reasoning_tags]
            )
        else:
            self._tags = list(DEFAULT_REASONING_TAGS)
        self._raw_text = ""  # streamed content before inline reasoning tags are split out
        self._tool_calls: dict[int, dict[str, Any]] = {}
        self._inline_reasoning = ""
        self._failed = False

    # -- stream chunks ---------------------------------------------------------------------
    def chunk(self, data: Any) -> None:
        if data == "[DONE]":
            self.message.done = True
            return
        if not isinstance(data, dict):
            return
        if "event" in data and isinstance(data["event"], dict):
            self.event(data["event"])
            return
        if data.get("selected_model_id"):
            self.message.selected_model_id = data["selected_model_id"]
        raw_usage = dict(data.get("usage") or {}) if isinstance(data.get("usage"), dict) else {}
        if isinstance(data.get("timings"), dict):
            raw_usage.update(data["timings"])  # llama.cpp
        if raw_usage:
            self.message.usage = merge_usage(self.message.usage, raw_usage)
        if self._derive_host_events:
            for event in host_events(data):
                self.event(event)
        if "sources" in data and isinstance(data["sources"], list):
            self.message.sources.extend(data["sources"])
        choices = data.get("choices")
        if not choices:
            if data.get("error") is not None:
                self.message.error = _error_text(data["error"])
            return
        choice = choices[0] or {}
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return  # e.g. a whole completion dict while streaming: the UI shows nothing
        for key in REASONING_KEYS:
            if delta.get(key):
                self.message.reasoning += str(delta[key])
                break
        for detail in delta.get("reasoning_details") or []:
            if (
                isinstance(detail, dict)
                and detail.get("text")
                and not any(delta.get(k) for k in REASONING_KEYS)
            ):
                self.message.reasoning += detail["text"]
        if delta.get("content"):
            self._raw_text += str(delta["content"])
            self._split_reasoning_tags()
        for call in delta.get("tool_calls") or []:
            self._merge_tool_call(call)

    def _split_reasoning_tags(self) -> None:
        """Inline tags: text inside a start/end pair is reasoning, the rest is content."""
        text, content, reasoning = self._raw_text, "", ""
        while text:
            starts = [(text.find(s), s, e) for s, e in self._tags if text.find(s) != -1]
            if not starts:
                content += text
                break
            index, start, end = min(starts)
            content += text[:index]
            rest = text[index + len(start) :]
            stop = rest.find(end)
            if stop == -1:
                reasoning += rest
                break
            reasoning += rest[:stop]
            text = rest[stop + len(end) :]
        self.message.content = content.lstrip("\n") if reasoning else content
        self._inline_reasoning = reasoning

    def _merge_tool_call(self, call: dict[str, Any]) -> None:
        index = call.get("index", len(self._tool_calls))
        slot = self._tool_calls.setdefault(
            index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if call.get("id"):
            slot["id"] = call["id"]
        function = call.get("function") or {}
        if function.get("name"):
            slot["function"]["name"] += function["name"]
        if function.get("arguments"):
            slot["function"]["arguments"] += function["arguments"]
        self.message.tool_calls = [self._tool_calls[i] for i in sorted(self._tool_calls)]

    # -- emitter events --------------------------------------------------------------------
    def event(self, event: dict[str, Any]) -> None:
        kind, data = event.get("type"), event.get("data")
        m = self.message
        if kind == "status" and isinstance(data, dict):
            m.status_history.append(data)
        elif kind in ("source", "citation") and isinstance(data, dict):
            m.sources.append(data)
        elif kind in ("message", "chat:message:delta") and isinstance(data, dict):
            m.emitted_content = (m.emitted_content or m.content) + str(data.get("content", ""))
        elif kind in ("replace", "chat:message") and isinstance(data, dict):
            m.emitted_content = str(data.get("content", ""))
        elif kind == "notification" and isinstance(data, dict):
            m.notifications.append(data)
        elif kind in ("files", "chat:message:files") and isinstance(data, dict):
            m.files.extend(data.get("files") or [])
        elif kind in ("embeds", "chat:message:embeds") and isinstance(data, dict):
            m.embeds = (
                list(data.get("embeds") or [])
                if data.get("replace")
                else (m.embeds + list(data.get("embeds") or []))
            )
        elif kind == "chat:message:error" and isinstance(data, dict):
            m.error = _error_text(data.get("error"))
        elif kind == "chat:message:follow_ups" and isinstance(data, dict):
            m.follow_ups = list(data.get("follow_ups") or [])
        elif kind == "chat:title":
            m.title = data if isinstance(data, str) else m.title
        elif kind == "chat:completion" and isinstance(data, dict):
            self._completion_event(data)

    def _completion_event(self, data: dict[str, Any]) -> None:
        m = self.message
        if data.get("content") is not None:
            m.emitted_content = str(data["content"])
        if isinstance(data.get("usage"), dict):
            m.usage.update(data["usage"])
        if data.get("error"):
            m.error = _error_text(data["error"])
        if isinstance(data.get("sources"), list):
            m.sources.extend(data["sources"])
        if data.get("title"):
            m.title = data["title"]
        if data.get("done"):
            m.done = True

    # -- non-streaming answers -------------------------------------------------------------
    def completion(self, response: Any) -> None:
        """A non-streaming JSON answer (a completion, an error dict, or anything else)."""
        self.message.done = True
        if not isinstance(response, dict):
            return
        if isinstance(response.get("usage"), dict):
            self.message.usage = normalize_usage(response["usage"])
        choices = response.get("choices")
        if not choices:
            if response.get("error") is not None:
                self.message.error = _error_text(response["error"])
            elif response.get("detail") is not None:
                self.message.error = _error_text(response["detail"])
            return
        msg = (choices[0] or {}).get("message") or {}
        for key in REASONING_KEYS:
            if msg.get(key):
                self.message.reasoning = str(msg[key])
                break
        if msg.get("content"):
            self._raw_text = str(msg["content"])
            self._split_reasoning_tags()
        self.message.tool_calls = list(msg.get("tool_calls") or [])

    def failed(self) -> None:
        """The UI path's stream raised: the stored message keeps no content (error is set)."""
        self._failed = True

    def result(self) -> ReducedMessage:
        if self._failed:
            self.message.content = ""
        inline = self._inline_reasoning
        if inline:
            self.message.reasoning = (self.message.reasoning + inline).strip("\n")
        return self.message


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        for key in ("detail", "message", "content"):
            if error.get(key):
                return str(error[key])
        return json.dumps(error)
    return str(error)


def _image_url(image: Any) -> str:
    if isinstance(image, dict):
        inner = image.get("image_url")
        return inner.get("url", "") if isinstance(inner, dict) else str(image.get("url", ""))
    return str(image)


def reduce_timeline(
    items: list[tuple[str, Any]],
    reasoning_tags: list | bool | None = None,
    derive_host_events: bool = True,
) -> ReducedMessage:
    reducer = Reducer(reasoning_tags, derive_host_events)
    for kind, item in items:
        if kind == "chunk":
            reducer.chunk(item)
        elif kind == "event":
            reducer.event(item)
        elif kind == "response":
            reducer.completion(item)
        elif kind == "failed":
            reducer.failed()
    return reducer.result()
