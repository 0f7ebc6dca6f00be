"""Replay: earlier turns' stored artifacts back into the Responses input, where they were.

`load_replay` finds the markers in the request's assistant messages and loads every artifact
in one query, scoped by the requesting user: a marker another user forged or pasted loads
nothing (and is not mentioned), a missing row (retention, `next_reply`) is skipped with a log
line, a row the current keys cannot open is skipped with a status line. `assistant_items`
rebuilds one assistant message as text segments with the artifacts re-inserted at their
positions; marker text never reaches the model. Reasoning goes back only to the provider
that produced it (its encrypted blobs mean nothing to another one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .logs import get_logger
from .markers import find_markers, index_after, strip_markers
from .storage.codec import Artifact
from .storage.vault import ArtifactVault, VaultUnavailable
from .wire import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputItem,
    InputMessage,
    ReplayItem,
)

TRIM_MIN_CHARS = 800
TRIM_HEAD_CHARS = 256
TRIM_TAIL_CHARS = 128


@dataclass
class Replay:
    """What one request replays: the loaded artifacts and what the user should be told."""

    artifacts: dict[str, Artifact] = field(default_factory=dict)
    model_slug: str = ""
    notices: list[str] = field(default_factory=list)

    def reasoning_ids(self) -> list[str]:
        return [i for i, a in self.artifacts.items() if a.item_type == "reasoning"]

    def usable(self, artifact: Artifact) -> bool:
        if artifact.item_type != "reasoning":
            return True
        return _provider(artifact.model_id) == _provider(self.model_slug)


def _provider(slug: str) -> str:
    return slug.split("/", 1)[0] if "/" in slug else ""


def message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text") or "")
            for p in content
            if isinstance(p, dict) and p.get("type") in ("text", "input_text", "output_text")
        )
    return "" if content is None else str(content)


def marker_ids(messages: Iterable[Any]) -> list[str]:
    """Artifact ids referenced by the assistant messages, in conversation order."""
    ids: list[str] = []
    for msg in messages:
        if isinstance(msg, dict) and msg.get("role") == "assistant":
            ids.extend(find_markers(message_text(msg.get("content"))))
    return list(dict.fromkeys(ids))


async def load_replay(
    vault_factory: Any,
    user_id: str,
    messages: Any,
    model_slug: str,
    fresh_types: tuple[str, ...] = (),
) -> Replay | None:
    """The artifacts the request's markers point at (None when there are no markers);
    `fresh_types` are read from the database even when this process holds them (reasoning
    kept for the next reply only: another worker may have deleted it after its replay)."""
    ids = marker_ids(messages if isinstance(messages, list) else [])
    if not ids:
        return None
    replay = Replay(model_slug=model_slug)
    if not user_id:
        get_logger().info("replay skipped: the request has no user id")
        return replay
    try:
        vault: ArtifactVault = vault_factory()
        result = await vault.load(user_id, ids, fresh_types=fresh_types)
    except VaultUnavailable as exc:
        replay.notices.append(f"Earlier reasoning and tool results unavailable: {exc.reason}")
        return replay
    except Exception as exc:  # a key file that cannot be written, a bad database URL...
        get_logger().warning("replay skipped: %s: %s", type(exc).__name__, exc)
        replay.notices.append("Earlier reasoning and tool results unavailable")
        return replay
    replay.artifacts = result.artifacts
    if result.missing:
        get_logger().warning(
            "replay: %d of %d markers point at no row of this user (expired, deleted or not "
            "theirs); skipped",
            len(result.missing),
            len(ids),
        )
    if result.unreadable:
        kinds = set(result.unreadable.values())
        reason = (
            "sealed with a key this server no longer has"
            if kinds == {"key"}
            else "they do not decrypt (damaged or altered)"
        )
        get_logger().warning(
            "replay: %d stored items skipped: %s (%s)",
            len(result.unreadable),
            reason,
            ", ".join(sorted(kinds)),
        )
        replay.notices.append(f"{len(result.unreadable)} earlier items not replayed: {reason}")
    return replay


def _input_item(item: dict[str, Any]) -> InputItem | None:
    """A stored item back as an input item (validated: pydantic-core's constructors are
    cheaper than `model_construct` here, and a stored shape this version cannot send is
    skipped instead of failing the request)."""
    kind = item.get("type")
    try:
        if kind == "function_call":
            return FunctionCallItem(**item)
        if kind == "function_call_output":
            return FunctionCallOutputItem(call_id=item["call_id"], output=item["output"])
        return ReplayItem(**item)
    except (KeyError, TypeError, ValidationError):
        get_logger().warning("replay: a stored %s item has an unexpected shape; skipped", kind)
        return None


def assistant_items(text: str, replay: Replay | None) -> list[InputItem]:
    """One assistant message: its text (markers removed) with its artifacts put back where
    they were produced. Without replay (or markers) it is just the text."""
    ids = find_markers(text)
    clean = strip_markers(text) if ids else text
    artifacts = [replay.artifacts[i] for i in ids if replay and i in replay.artifacts]
    if replay is not None:
        artifacts = [a for a in artifacts if replay.usable(a)]
    if not artifacts:
        return [InputMessage(role="assistant", content=clean)] if clean.strip() else []
    items: list[InputItem] = []
    start = 0
    for artifact in sorted(artifacts, key=lambda a: a.offset):  # stable: marker order kept
        cut = max(start, index_after(clean, artifact.offset))
        segment = clean[start:cut].strip()
        if segment:
            items.append(InputMessage(role="assistant", content=segment))
        start = cut
        item = _input_item(artifact.item)
        if item is not None:
            items.append(item)
    tail = clean[start:].strip()
    if tail:
        items.append(InputMessage(role="assistant", content=tail))
    return items


def trim_old_tool_outputs(items: list[InputItem], keep_turns: int) -> list[InputItem]:
    """Long tool outputs older than `keep_turns` user turns keep their head and tail only."""
    starts = [n for n, i in enumerate(items) if isinstance(i, InputMessage) and i.role == "user"]
    if keep_turns <= 0 or len(starts) <= keep_turns:
        return items
    boundary = starts[-keep_turns]
    out: list[InputItem] = []
    for n, item in enumerate(items):
        if (
            n < boundary
            and isinstance(item, FunctionCallOutputItem)
            and len(item.output) >= TRIM_MIN_CHARS
        ):
            removed = len(item.output) - TRIM_HEAD_CHARS - TRIM_TAIL_CHARS
            note = f"\n[... {removed} characters of an older tool result removed ...]\n"
            output = item.output[:TRIM_HEAD_CHARS] + note + item.output[-TRIM_TAIL_CHARS:]
            item = FunctionCallOutputItem(call_id=item.call_id, output=output)
        out.append(item)
    return out
