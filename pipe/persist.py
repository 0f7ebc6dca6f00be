"""Saving a turn's artifacts: what a later turn needs to continue where this one stopped.

`TurnRecorder` watches one request: the visible text streamed (to place each artifact), each
round's reasoning items and tool call + output pairs. When the answer is complete, `commit`
seals and writes them in one transaction (with the last-use time of what was replayed, and the
removal of `next_reply` reasoning), and only then returns the marker lines to append. Storage
trouble costs the history, never the answer: `commit` returns no markers and leaves a notice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .history import Replay
from .logs import RequestContext, get_logger
from .markers import render_markers, visible_length
from .storage.codec import Artifact, new_artifact_id
from .storage.vault import ArtifactVault, VaultUnavailable
from .stream import RunOutcome
from .toolloop import replayable_reasoning
from .tools import ToolResult
from .wire import OutputItem

ReasoningRetention = Literal["disabled", "next_reply", "conversation"]


@dataclass(frozen=True)
class PersistPolicy:
    reasoning: ReasoningRetention = "conversation"
    tool_results: bool = True
    retention_days: int = 90
    cleanup_interval_hours: float = 6.0


@dataclass
class TurnRecorder:
    ctx: RequestContext
    policy: PersistPolicy
    vault_factory: Callable[[], ArtifactVault]
    model_slug: str = ""
    replay: Replay | None = None
    notices: list[str] = field(default_factory=list)
    _visible: int = 0
    _round_start: int = 0
    _pending: list[Artifact] = field(default_factory=list)
    _committed: bool = False

    # ------------------------------------------------------------------ while streaming

    def text(self, text: str) -> None:
        self._visible += visible_length(text)

    def begin_round(self) -> None:
        self._round_start = self._visible

    def end_round(self, outcome: RunOutcome, results: list[ToolResult] | None) -> None:
        """Record a finished round. `results` are the pipe's tool outputs (None: Open WebUI
        runs the calls and keeps them in its own history, so only reasoning is kept)."""
        answered = {r.call_id: r for r in results or []}
        source = outcome.output or [*outcome.reasoning_items, *outcome.function_calls]
        offset = self._round_start
        calls: list[OutputItem] = []
        for item in source:
            if item.type == "message" and item.message_text():
                offset = self._visible  # what follows the round's text goes after it
            elif item.type == "reasoning" and self.policy.reasoning != "disabled":
                if replayable_reasoning(item):
                    self._add("reasoning", item.model_dump(exclude_none=True), offset)
            elif item.type == "function_call" and (item.call_id or "") in answered:
                calls.append(item)
        if not self.policy.tool_results or results is None:
            return
        seen = {c.call_id for c in calls}
        calls += [
            c for c in outcome.function_calls if c.call_id in answered and c.call_id not in seen
        ]
        if calls:
            offset = self._visible
        for call in calls:
            data = call.model_dump(exclude_none=True)
            data.setdefault("id", "fc_" + (call.call_id or ""))
            data.setdefault("arguments", "{}")
            self._add("function_call", data, offset)
        for call in calls:
            result = answered[call.call_id or ""]
            output = {
                "type": "function_call_output",
                "call_id": result.call_id,
                "output": result.output,
            }
            self._add("function_call_output", output, offset)

    def _add(self, kind: str, item: dict[str, Any], offset: int) -> None:
        self._pending.append(
            Artifact(
                id=new_artifact_id(),
                user_id=self.ctx.user_id,
                chat_id=self.ctx.chat_id,
                message_id=self.ctx.message_id,
                model_id=self.model_slug,
                item_type=kind,
                item=item,
                offset=offset,
            )
        )

    # ------------------------------------------------------------------ at the end

    def take_notices(self) -> list[str]:
        notices, self.notices = self.notices, []
        return notices

    async def commit(self) -> str:
        """Write the turn; returns the marker chunk to append ("" when nothing was saved)."""
        if self._committed:
            return ""
        self._committed = True
        replayed = list(self.replay.artifacts) if self.replay else []
        remove = (
            self.replay.reasoning_ids()
            if self.replay and self.policy.reasoning == "next_reply"
            else []
        )
        if not self.ctx.user_id or not (self._pending or replayed):
            return ""
        artifacts, self._pending = self._pending, []
        try:
            vault = self.vault_factory()
            await vault.save_turn(
                artifacts, user_id=self.ctx.user_id, touch=replayed, remove=remove
            )
        except VaultUnavailable as exc:
            if artifacts:
                self.notices.append(f"History not saved: {exc.reason}")
            return ""
        except Exception as exc:
            get_logger().warning("history not saved: %s: %s", type(exc).__name__, exc)
            if artifacts:
                self.notices.append("History not saved")
            return ""
        vault.schedule_cleanup(self.policy.retention_days, self.policy.cleanup_interval_hours)
        if artifacts:
            get_logger().info("saved %d artifacts for replay", len(artifacts))
        return render_markers([a.id for a in artifacts])
