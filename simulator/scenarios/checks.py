"""Compare what happened in a turn with what the scenario expects; return readable failures."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from simulator.scenarios.expect import find_item, get_path, subset_diff
from simulator.scenarios.model import Scenario, ToolCallExpectation, Turn

if TYPE_CHECKING:
    from simulator.scenarios.runner import TurnOutcome


# A replay marker line (docs/persistence.md): renders as nothing, so the visible text is the
# content without these lines.
MARKER_LINE = re.compile(r"^[ \t]*\[or:([A-Za-z0-9_-]{22})\]: #[ \t]*$", re.MULTILINE)


def visible_text(content: str) -> str:
    if "[or:" not in content:
        return content
    return MARKER_LINE.sub("", content).rstrip()


def input_types(items: list[dict[str, Any]]) -> list[str]:
    out = []
    for item in items:
        kind = item.get("type", "message" if "role" in item else "?")
        out.append(f"message:{item.get('role')}" if kind == "message" else kind)
    return out


def check_requests(turn: Turn, requests: list[dict[str, Any]]) -> list[str]:
    """Expectations on the bodies the pipe sent upstream, step by step."""
    failures: list[str] = []
    if turn.concurrent > 1:
        return failures
    for index, step in enumerate(turn.upstream):
        exp = step.expect_request
        if exp is None:
            continue
        where = f"upstream call {index + 1}"
        if index >= len(requests):
            failures.append(f"{where}: expected a request, but the pipe made only {len(requests)}")
            continue
        body = requests[index].get("body") or {}
        diff = subset_diff(exp.match, body) if exp.match else None
        if diff:
            failures.append(f"{where}: request body {diff}")
        items = body.get("input") if isinstance(body.get("input"), list) else []
        for wanted in exp.input_has:
            if not find_item(wanted, items):
                failures.append(
                    f"{where}: input has no item like {wanted}; got types "
                    f"{[i.get('type', i.get('role')) for i in items]}"
                )
        for unwanted in exp.input_lacks:
            if find_item(unwanted, items):
                failures.append(f"{where}: input unexpectedly holds an item like {unwanted}")
        if exp.input_types is not None and input_types(items) != exp.input_types:
            failures.append(
                f"{where}: input types {input_types(items)}, expected {exp.input_types}"
            )
        for path in exp.absent:
            present, value = get_path(body, path)
            if present:
                failures.append(f"{where}: `{path}` should be absent, got {value!r}")
        if exp.tool_names is not None:
            names = sorted(t.get("name", "") for t in body.get("tools") or [])
            if names != sorted(exp.tool_names):
                failures.append(
                    f"{where}: tools offered {names}, expected {sorted(exp.tool_names)}"
                )
    return failures


def _source_urls(sources: list[dict[str, Any]]) -> list[str]:
    urls: list[str] = []
    for src in sources:
        meta = src.get("metadata") or []
        url = next((m.get("source") or m.get("url") for m in meta if isinstance(m, dict)), None)
        url = url or (src.get("source") or {}).get("url") or (src.get("source") or {}).get("name")
        if url:
            urls.append(url)
    return urls


def _tool_calls_match(
    label: str, expected: list[ToolCallExpectation], actual: list[tuple[str, Any]]
) -> list[str]:
    got = [name for name, _ in actual]
    if [e.name for e in expected] != got:
        return [f"{label}: expected {[e.name for e in expected]}, got {got}"]
    failures = []
    for exp, (name, args) in zip(expected, actual, strict=True):
        if exp.arguments is not None:
            diff = subset_diff(exp.arguments, args)
            if diff:
                failures.append(f"{label} {name}: arguments {diff}")
    return failures


def shown_error(msg: Any, content: str) -> str:
    """The error a user reads: Open WebUI's error box, or the pipe's Markdown error in the
    message (flagged by an error status line). Empty when nothing failed."""
    flagged = bool(msg.error) or any((s or {}).get("error") for s in msg.status_history)
    return f"{msg.error or ''}\n{content}" if flagged else ""


def check_turn(turn: Turn, outcome: TurnOutcome, scenario: Scenario) -> list[str]:
    exp = turn.expect
    failures: list[str] = []
    if turn.concurrent > 1 or turn.expect_errors:
        errors = [shown_error(t.message, t.message.content) for t in outcome.transcripts]
        for needle, count in turn.expect_errors.items():
            got = sum(needle.lower() in e.lower() for e in errors)
            if got != count:
                failures.append(
                    f"expected {count} of {turn.concurrent} runs to fail with "
                    f"{needle!r}, got {got}: {errors}"
                )
        return failures
    transcript = outcome.transcripts[0]
    msg = transcript.message
    markers = MARKER_LINE.findall(msg.content)
    content = visible_text(msg.content)
    if turn.task and transcript.task is not None:
        content = str(transcript.task.value if transcript.task.value is not None else "")
    if exp.content is not None and content != exp.content:
        failures.append(f"content: expected {exp.content!r}, got {content!r}")
    for needle in exp.content_contains:
        if needle not in content:
            failures.append(f"content lacks {needle!r}: {content!r}")
    for needle in exp.content_lacks:
        if needle in content:
            failures.append(f"content should not contain {needle!r}: {content!r}")
    for needle in exp.reasoning_contains:
        if needle not in msg.reasoning:
            failures.append(f"reasoning lacks {needle!r}: {msg.reasoning!r}")
    if exp.no_reasoning and msg.reasoning:
        failures.append(f"expected no reasoning, got {msg.reasoning!r}")
    if exp.citations is not None and _source_urls(msg.sources) != exp.citations:
        failures.append(f"citations: expected {exp.citations}, got {_source_urls(msg.sources)}")
    statuses = [str((s or {}).get("description", "")) for s in msg.status_history]
    for needle in exp.status_contains:
        if not any(needle in s for s in statuses):
            failures.append(f"no status line contains {needle!r}: {statuses}")
    if exp.usage is not None:
        diff = subset_diff(exp.usage, msg.usage)
        if diff:
            failures.append(f"usage {diff}")
    error = shown_error(msg, content)
    for needle in exp.error_contains:
        if needle.lower() not in error.lower():
            failures.append(f"error lacks {needle!r}: {error!r}")
    if exp.no_error and error:
        failures.append(f"unexpected error shown to the user: {error!r}")
    runs = [(r.name, r.arguments) for r in outcome.tool_runs]
    if exp.tool_calls is not None:
        failures += _tool_calls_match("tool calls", exp.tool_calls, runs)
    if exp.tool_call_count is not None and len(runs) != exp.tool_call_count:
        failures.append(f"expected {exp.tool_call_count} tool invocations, got {len(runs)}")
    if exp.upstream_calls is not None and len(outcome.requests) != exp.upstream_calls:
        failures.append(
            f"expected {exp.upstream_calls} upstream calls, got {len(outcome.requests)}"
        )
    failures += _check_store(exp, markers, outcome)
    if exp.passthrough_tool_calls is not None:
        handed = []
        for call in msg.tool_calls:
            fn = call.get("function") or {}
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                args = fn.get("arguments")
            handed.append((fn.get("name"), args))
        failures += _tool_calls_match("pass-through tool calls", exp.passthrough_tool_calls, handed)
    return failures


def _check_store(exp: Any, markers: list[str], outcome: TurnOutcome) -> list[str]:
    failures = []
    if exp.markers is not None and len(markers) != exp.markers:
        failures.append(f"expected {exp.markers} replay markers, got {len(markers)}")
    if exp.stored is not None and outcome.stored != exp.stored:
        failures.append(f"stored rows per type: expected {exp.stored}, got {outcome.stored}")
    for needle in exp.stored_lacks:
        if any(needle.encode() in payload for payload in outcome.payloads):
            failures.append(f"a stored payload holds {needle!r} in the clear")
    return failures
