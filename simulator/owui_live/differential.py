"""Differential fidelity: one scripted conversation through the real Open WebUI and the fake host.

A `Conversation` names a function file, its valves and user valves, the messages, stream or
not, an optional task, and the scripted upstream answers to queue on the fake OpenRouter
before each run. `run_real` and `run_fake` produce the same `Observed` shape:

- `api`: the API path's answer, normalised (SSE payloads or the JSON body, with `id` and
  `created` removed), plus the HTTP status;
- `api_events`: the emitter events of the API path (over socket.io for the real host);
- `ui_events` and `message`: the browser path (the pipe's own events, and the final message:
  content, reasoning, sources, status history, usage, error, tool calls);
- `task`: the task answer (normalised JSON and the parsed value).

`compare(real, fake)` lists every difference as a readable line; empty means faithful.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

UPSTREAM_PLACEHOLDER = "{upstream}"
VOLATILE_KEYS = frozenset({"id", "created"})
# Socket events the real host's middleware sends on the UI path by itself; the fake host
# records only what the pipe emits, so these are left out of the event comparison.
HOST_EVENT_TYPES = frozenset({"chat:active", "chat:list", "response:completion", "chat:completion"})
# Wall-clock figures a pipe may print (e.g. a final status "0.02 s · 1682.7 tok/s"): two runs
# can never agree on them, so they are masked in every compared string.
TIMING_MASKS = (
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"), "<timestamp>"),
    (re.compile(r"\b\d+(?:\.\d+)? ?(?:ms|s)\b"), "<duration>"),
    (re.compile(r"\b\d+(?:\.\d+)? ?tok/s\b"), "<rate>"),
    # A pipe's error messages carry a fresh random id per error, for support.
    (re.compile(r"(Error ID: `)[0-9a-f]{16}(`)"), r"\1<error-id>\2"),
    # Replay markers name random artifact ids (docs/persistence.md).
    (re.compile(r"\[or:[A-Za-z0-9_-]{22}\]: #"), "[or:<artifact-id>]: #"),
)


class Upstream(Protocol):
    """What the differential needs from the fake OpenRouter (simulator.openrouter.SimServer)."""

    base_url: str

    def enqueue(self, item: dict[str, Any]) -> Any: ...


@dataclass
class Conversation:
    name: str
    function: Path
    messages: list[dict[str, Any]]
    valves: dict[str, Any] = field(default_factory=dict)  # "{upstream}" -> the sim's base URL
    user_valves: dict[str, Any] | None = None
    stream: bool = True
    ui: bool = True  # also run the browser path (socket events + stored message)
    task: str | None = None  # "title" or "tags": run only that task endpoint
    upstream: list[dict[str, Any]] = field(default_factory=list)  # queued before every run
    model_suffix: str = ""  # ".sub" for a manifold sub-model
    tools: Path | None = None  # a workspace tools file (`class Tools`), used via tool_ids
    # A pipe that coalesces deltas by time splits the same text at different points in two
    # runs: then adjacent text (and reasoning) deltas are compared joined.
    merge_deltas: bool = False

    def function_id(self) -> str:
        return f"diff_{self.name}".lower()

    def tool_id(self) -> str:
        return f"diff_{self.name}_tools".lower()

    def chat_extra(self) -> dict[str, Any]:
        """Extra body keys of the real chat request (the tool selection)."""
        return {"tool_ids": [self.tool_id()]} if self.tools else {}

    def model(self) -> str:
        return self.function_id() + self.model_suffix

    def resolved_valves(self, upstream: Upstream | None) -> dict[str, Any]:
        base = upstream.base_url if upstream is not None else ""
        return {
            k: v.replace(UPSTREAM_PLACEHOLDER, base) if isinstance(v, str) else v
            for k, v in self.valves.items()
        }

    def queue_upstream(self, upstream: Upstream | None) -> None:
        if not self.upstream:
            return
        if upstream is None:
            raise ValueError(
                f"conversation {self.name!r} scripts upstream answers but has no upstream"
            )
        for item in self.upstream:
            upstream.enqueue(item)


@dataclass
class Observed:
    api_status: int | None = None
    api: Any = None  # list of normalised SSE payloads, or the normalised JSON body
    api_events: list[dict[str, Any]] = field(default_factory=list)
    ui_events: list[dict[str, Any]] = field(default_factory=list)
    message: dict[str, Any] | None = None
    task: Any = None
    # With workspace tools: the tool names the pipe sent upstream, per request of the API path.
    upstream_tools: list[list[str]] | None = None


# -- normalisation ---------------------------------------------------------------------------


def strip_volatile(value: Any) -> Any:
    """Drop ids and timestamps at the top level of each payload (chunk or completion)."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in VOLATILE_KEYS}
    return value


def _delta_only(chunk: Any) -> tuple[str, str] | None:
    """(key, text) when a chunk is nothing but one text or reasoning delta."""
    if not isinstance(chunk, dict) or set(chunk) - {"choices", "model", "object"}:
        return None
    choices = chunk.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    delta = choice.get("delta")
    if set(choice) - {"delta", "index", "finish_reason", "logprobs"} or choice.get("finish_reason"):
        return None
    if not isinstance(delta, dict) or len(delta) != 1:
        return None
    key, text = next(iter(delta.items()))
    if key in ("content", "reasoning_content") and isinstance(text, str):
        return key, text
    return None


def merge_deltas(chunks: list[Any]) -> list[Any]:
    """Join runs of adjacent chunks that carry only text (or only reasoning) of one kind."""
    out: list[Any] = []
    for chunk in chunks:
        this = _delta_only(chunk)
        last = _delta_only(out[-1]) if out else None
        if this and last and this[0] == last[0] and chunk["model"] == out[-1]["model"]:
            merged = json.loads(json.dumps(out[-1]))
            merged["choices"][0]["delta"][this[0]] = last[1] + this[1]
            out[-1] = merged
        else:
            out.append(chunk)
    return out


def normalise_chunks(chunks: list[Any], conv: Conversation) -> list[Any]:
    stripped = [strip_volatile(c) for c in chunks]
    return merge_deltas(stripped) if conv.merge_deltas else stripped


def _sent_count(upstream: Upstream | None) -> int:
    requests_to = getattr(upstream, "requests_to", None)
    return len(requests_to("/responses")) if requests_to else 0


def _sent_tools(upstream: Upstream | None, since: int) -> list[list[str]] | None:
    """Tool names of each `/responses` request the fake OpenRouter received after `since`."""
    requests_to = getattr(upstream, "requests_to", None)
    if requests_to is None:
        return None
    return [
        sorted(t.get("name", "") for t in (r.get("body") or {}).get("tools") or [])
        for r in requests_to("/responses")[since:]
    ]


def error_text(error: Any) -> str | None:
    """One string for an error however it is wrapped ({content: {detail: ...}}, ...)."""
    if error is None or error == "":
        return None
    if isinstance(error, dict):
        if "content" in error and len(error) == 1:
            return error_text(error["content"])
        for key in ("detail", "message", "content"):
            if error.get(key):
                return error_text(error[key])
        return json.dumps(error, sort_keys=True)
    return str(error)


def _arguments(raw: Any) -> Any:
    try:
        return json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return raw


def message_from_stored(message: dict[str, Any]) -> dict[str, Any]:
    """The real host's stored assistant message, in the fake host's reduced terms."""
    output = message.get("output") or []
    reasoning = "".join(
        part.get("text", "")
        for item in output
        if item.get("type") == "reasoning"
        for part in item.get("content") or []
    )
    calls = [
        {"name": item.get("name"), "arguments": _arguments(item.get("arguments"))}
        for item in output
        if item.get("type") == "function_call"
    ]
    return {
        "content": message.get("content") or "",
        "reasoning": reasoning,
        "sources": message.get("sources") or [],
        "status_history": message.get("statusHistory") or [],
        "usage": message.get("usage") or {},
        "error": error_text(message.get("error")),
        "tool_calls": calls,
    }


def message_from_reduced(reduced: Any) -> dict[str, Any]:
    """The fake host's ReducedMessage in the same terms."""
    return {
        "content": reduced.content or "",
        "reasoning": reduced.reasoning or "",
        "sources": list(reduced.sources),
        "status_history": list(reduced.status_history),
        "usage": dict(reduced.usage),
        "error": error_text(reduced.error),
        "tool_calls": [
            {"name": c["function"]["name"], "arguments": _arguments(c["function"]["arguments"])}
            for c in reduced.tool_calls
        ],
    }


def parse_task_json(response: Any) -> Any:
    """Open WebUI's task parsing: the text from the first `{` to the last `}`."""
    try:
        content = response["choices"][0]["message"]["content"] or ""
        return json.loads(content[content.index("{") : content.rindex("}") + 1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


# -- the two runs ----------------------------------------------------------------------------


async def run_real(owui: Any, conv: Conversation, upstream: Upstream | None = None) -> Observed:
    """Run through a live `simulator.owui_live.instance.OpenWebUI`."""
    model = conv.model()
    owui.create_function(
        conv.function,
        id=conv.function_id(),
        valves=conv.resolved_valves(upstream) or None,
        user_valves=conv.user_valves,
    )
    if conv.tools:
        owui.create_tool(conv.tools, id=conv.tool_id())
    seen = Observed()
    if conv.task:
        conv.queue_upstream(upstream)
        status, body = await owui.task(conv.task, model, conv.messages)
        seen.api_status, seen.api = status, strip_volatile(body)
        seen.task = parse_task_json(body)
        return seen
    async with owui.events() as capture:
        conv.queue_upstream(upstream)
        sent = _sent_count(upstream)
        reply = await owui.chat(model, conv.messages, stream=conv.stream, **conv.chat_extra())
        if conv.tools:
            seen.upstream_tools = _sent_tools(upstream, sent)
        seen.api_status = reply.status
        seen.api = (
            normalise_chunks(reply.chunks, conv) if reply.chunks else strip_volatile(reply.json)
        )
        await capture.barrier()  # API-path events (chat_id "") were emitted before the reply
        seen.api_events = [e["data"] for e in capture.events if e.get("chat_id") == ""]
        if conv.ui:
            conv.queue_upstream(upstream)
            ui = await owui.ui_chat(capture, model, conv.messages, **conv.chat_extra())
            seen.ui_events = [
                e["data"] for e in ui.events if e["data"].get("type") not in HOST_EVENT_TYPES
            ]
            seen.message = message_from_stored(ui.message)
    return seen


async def run_fake(
    conv: Conversation, upstream: Upstream | None = None, *, user: Any = None
) -> Observed:
    """Run through the fake host (`simulator.host.host.FakeHost`)."""
    from simulator.host.host import FakeHost

    host = FakeHost.from_file(
        conv.function,
        function_id=conv.function_id(),
        name=conv.function_id(),
        valves=conv.resolved_valves(upstream) or None,
        **({"default_user": user} if user is not None else {}),
    )
    try:
        return await _observe_fake(host, conv, upstream)
    finally:
        await host.aclose()  # the function's HTTP session, on the loop that opened it


async def _observe_fake(host: Any, conv: Conversation, upstream: Upstream | None) -> Observed:
    model = conv.model()
    tools = load_tools(conv.tools, conv.tool_id()) if conv.tools else None
    seen = Observed()
    if conv.task:
        conv.queue_upstream(upstream)
        transcript = await host.task(conv.task, messages=conv.messages, model=model)
        seen.api_status, seen.api = transcript.status_code, strip_volatile(transcript.response)
        seen.task = parse_task_json(transcript.response)
        return seen
    conv.queue_upstream(upstream)
    sent = _sent_count(upstream)
    api = await host.chat(
        conv.messages,
        model=model,
        stream=conv.stream,
        user_valves=conv.user_valves,
        tools=tools,
    )
    seen.api_status = api.status_code
    seen.api = normalise_chunks(api.chunks, conv) if conv.stream else strip_volatile(api.response)
    seen.api_events = list(api.events)
    if conv.tools:
        seen.upstream_tools = _sent_tools(upstream, sent)
    if conv.ui:
        conv.queue_upstream(upstream)
        ui = await host.chat(
            conv.messages,
            model=model,
            stream=True,
            ui=True,
            user_valves=conv.user_valves,
            tools=tools,
        )
        seen.ui_events = list(ui.events)
        seen.message = message_from_reduced(ui.message)
    return seen


def load_tools(path: Path, tool_id: str) -> dict[str, Any]:
    """A workspace tools file as the fake host's `tools=`: every public method of its `Tools`
    instance, under the tool id Open WebUI would give it (the spec comes from the signature)."""
    import inspect
    import types

    module = types.ModuleType(f"tool_{tool_id}")
    exec(compile(Path(path).read_text(), str(path), "exec"), module.__dict__)
    if not hasattr(module, "Tools"):
        raise ValueError(f"{path}: no `class Tools` in this tools file")
    instance = module.Tools()
    return {
        name: {"callable": getattr(instance, name), "tool_id": tool_id}
        for name in dir(instance)
        if not name.startswith("_") and inspect.ismethod(getattr(instance, name))
    }


def mask_timings(value: Any) -> Any:
    """Replace durations and token rates inside every string of a nested value."""
    if isinstance(value, str):
        for pattern, replacement in TIMING_MASKS:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, dict):
        return {k: mask_timings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_timings(v) for v in value]
    return value


def compare(real: Observed, fake: Observed) -> list[str]:
    """Every field where the fake host differs from the real one, as readable lines."""
    diffs: list[str] = []
    for name in ("api_status", "api", "api_events", "ui_events", "task", "upstream_tools"):
        a, b = mask_timings(getattr(real, name)), mask_timings(getattr(fake, name))
        if a != b:
            diffs.append(f"{name}:\n  real: {_show(a)}\n  fake: {_show(b)}")
    if real.message is not None or fake.message is not None:
        for key in sorted(set(real.message or {}) | set(fake.message or {})):
            a = mask_timings((real.message or {}).get(key))
            b = mask_timings((fake.message or {}).get(key))
            if a != b:
                diffs.append(f"message.{key}:\n  real: {_show(a)}\n  fake: {_show(b)}")
    return diffs


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 1500 else text[:1500] + "..."
