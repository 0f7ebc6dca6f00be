"""What one chat through the fake host produced: bytes, chunks, events and the reduced message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.host.call import EventCallRecord, ToolRun
from simulator.host.reduce import ReducedMessage
from simulator.host.tasks import TaskResult


@dataclass
class Transcript:
    """One chat turn (all its tool-loop rounds) as a client and a user would see it.

    - `raw`: the HTTP body bytes Open WebUI's API path would send (SSE, or JSON when
      `stream=False`); with several tool-loop rounds, the rounds' bodies concatenated.
    - `chunks`: the parsed `data:` payloads of `raw` (dicts, "[DONE]", or raw strings).
    - `response`: the non-streaming JSON answer (last round), else None.
    - `events`: every `__event_emitter__` event in order; `event_calls`: `__event_call__`
      requests with the scripted answers; `tool_runs`: host-run tool invocations.
    - `timeline`: chunks and events interleaved in arrival order (what the reducer read).
    - `bodies`: the `body` the pipe received, one per round; `metadata`: its `__metadata__`.
    - `message`: the reduced message (content, reasoning, sources, statuses, usage, error).
    - `round_texts`: the text each pipe call of the turn streamed (one per tool-loop round).
    """

    model: str
    stream: bool
    ui: bool = False
    status_code: int = 200
    raw: bytes = b""
    chunks: list[Any] = field(default_factory=list)
    response: Any = None
    events: list[dict[str, Any]] = field(default_factory=list)
    event_calls: list[EventCallRecord] = field(default_factory=list)
    tool_runs: list[ToolRun] = field(default_factory=list)
    timeline: list[tuple[str, Any]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    message: ReducedMessage = field(default_factory=ReducedMessage)
    task: TaskResult | None = None
    round_texts: list[str] = field(default_factory=list)  # UI tool loop: each round's text

    @property
    def body(self) -> dict[str, Any]:
        """The body of the first round."""
        return self.bodies[0] if self.bodies else {}

    @property
    def content(self) -> str:
        return self.message.content

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", errors="replace")

    @property
    def ends_with_done(self) -> bool:
        return bool(self.chunks) and self.chunks[-1] == "[DONE]"
