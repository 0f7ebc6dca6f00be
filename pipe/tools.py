"""Open WebUI's tool registry (`__tools__`) and running one round of the model's calls.

`ToolRegistry.from_owui(__tools__)` keeps the entries that can run here (a callable and a
spec; browser-side "direct" tools have no callable). `ToolExecutor.run_round(calls)` runs one
round's calls concurrently, bounded per request and per process, each with a timeout. Every
call yields exactly one output string: the tool's result (strings as they are, anything else
as JSON, capped in size) or a structured error the model can read. Nothing is retried: tools
can have side effects, and the model decides what to do with an error.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from .admission import AdmissionController
from .logs import current_telemetry, get_logger
from .redaction import ERROR_MESSAGE_MAX, user_text
from .toolschema import argument_problems, strict_schema
from .wire import FunctionTool, OutputItem, json_object

# Error kinds in a tool's error output (docs/tools.md).
UNKNOWN_TOOL = "unknown_tool"
INVALID_ARGUMENTS = "invalid_arguments"
TOOL_TIMEOUT = "timeout"
TOOL_FAILED = "tool_error"


@dataclass(frozen=True)
class ToolEntry:
    name: str
    fn: Callable[..., Any]
    description: str | None
    parameters: dict[str, Any]


class ToolRegistry:
    """The tools of one request, by the name the model calls them."""

    def __init__(self, entries: dict[str, ToolEntry] | None = None) -> None:
        self.entries = dict(entries or {})
        # Top-level properties made nullable by strict mode, per tool (nulls are dropped).
        self.nullable_optional: dict[str, frozenset[str]] = {}

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def names(self) -> list[str]:
        return sorted(self.entries)

    @classmethod
    def from_owui(cls, tools: Any) -> ToolRegistry:
        entries: dict[str, ToolEntry] = {}
        for key, value in (tools or {}).items() if isinstance(tools, dict) else ():
            entry = value if isinstance(value, dict) else {"callable": value}
            fn = entry.get("callable")
            if not callable(fn):
                get_logger().debug("tool %r has no callable here (direct tool?); skipped", key)
                continue
            spec = json_object(entry.get("spec"))
            params = spec.get("parameters")
            entries[str(key)] = ToolEntry(
                name=str(key),
                fn=fn,
                description=spec.get("description") or None,
                parameters=params
                if isinstance(params, dict)
                else {"type": "object", "properties": {}},
            )
        return cls(entries)

    def definitions(self, strict: bool) -> list[FunctionTool]:
        """The tools as Responses function tools; strict where the schema allows it."""
        out: list[FunctionTool] = []
        self.nullable_optional = {}
        for entry in self.entries.values():
            strict_form = strict_schema(entry.parameters) if strict else None
            if strict_form is not None:
                self.nullable_optional[entry.name] = strict_form.optional
            out.append(
                FunctionTool(
                    name=entry.name,
                    description=entry.description,
                    parameters=strict_form.schema if strict_form else entry.parameters,
                    strict=True if strict_form else None,
                )
            )
        return out


@dataclass(frozen=True)
class ToolPolicy:
    timeout: float = 60.0
    max_parallel: int = 5  # per request
    max_output_chars: int = 50_000


@dataclass
class ToolResult:
    call_id: str
    name: str
    output: str
    error_kind: str | None = None
    ran: bool = False  # the tool's callable was invoked
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error_kind is None

    @classmethod
    def refused(cls, call_id: str, name: str, kind: str, message: str, **extra: Any) -> ToolResult:
        """A call answered with a structured error without running the tool."""
        return cls(call_id, name, error_output(kind, name, message, **extra), kind)


def error_output(kind: str, tool: str, message: str, **extra: Any) -> str:
    """The structured error the model (and whoever reads the chat) sees in a
    `function_call_output`; an exception's text may quote a secret or be huge."""
    message = user_text(message, ERROR_MESSAGE_MAX)
    return json.dumps(
        {"error": {"kind": kind, "tool": tool, "message": message, **extra}}, ensure_ascii=False
    )


def format_output(value: Any, max_chars: int) -> str:
    """Strings as they are, anything else as JSON; capped with a note saying so."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=_jsonable)
        except (TypeError, ValueError):
            text = str(value)
    if len(text) > max_chars:
        note = (
            f"\n[output truncated: {len(text):,} characters, showing the first "
            f"{max_chars:,} (TOOL_OUTPUT_MAX_CHARS)]"
        )
        text = text[:max_chars] + note
    return text


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class ToolExecutor:
    """Runs rounds of calls for one request."""

    def __init__(
        self, registry: ToolRegistry, policy: ToolPolicy, global_slots: AdmissionController
    ) -> None:
        self.registry = registry
        self.policy = policy
        self._global = global_slots
        self._local = asyncio.Semaphore(max(1, policy.max_parallel))

    async def run_round(self, calls: list[OutputItem]) -> list[ToolResult]:
        """One output per call, in the calls' order; independent calls run concurrently."""
        return list(await asyncio.gather(*(self._run(call) for call in calls)))

    def _parse(self, call: OutputItem, entry: ToolEntry) -> dict[str, Any] | ToolResult:
        name, call_id = entry.name, call.call_id or ""
        raw = call.arguments if call.arguments is not None else ""
        try:
            args = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            return ToolResult.refused(
                call_id,
                name,
                INVALID_ARGUMENTS,
                f"The arguments are invalid JSON ({exc}). Send a JSON object.",
                arguments=raw[:500],
            )
        for key in self.registry.nullable_optional.get(name, ()):
            if isinstance(args, dict) and args.get(key, 0) is None:
                del args[key]  # strict mode's null for an optional property: use the default
        problems = argument_problems(args, entry.parameters)
        if not problems and not isinstance(args, dict):
            problems = ["the arguments must be a JSON object"]
        if problems:
            return ToolResult.refused(
                call_id,
                name,
                INVALID_ARGUMENTS,
                "The arguments are invalid for this tool's schema: " + "; ".join(problems),
                problems=problems,
            )
        return args

    async def _run(self, call: OutputItem) -> ToolResult:
        name, call_id = call.name or "", call.call_id or ""
        entry = self.registry.entries.get(name)
        if entry is None:
            known = self.registry.names
            return ToolResult.refused(
                call_id,
                name,
                UNKNOWN_TOOL,
                f"There is no tool named {name!r}. Available tools: "
                + (", ".join(known) or "none"),
                available_tools=known,
            )
        parsed = self._parse(call, entry)
        if isinstance(parsed, ToolResult):
            return parsed
        async with self._local, self._global.slot():
            return await self._invoke(entry, call_id, parsed)

    async def _invoke(self, entry: ToolEntry, call_id: str, args: dict[str, Any]) -> ToolResult:
        name, timeout = entry.name, self.policy.timeout
        result = ToolResult(call_id, name, "", ran=True, arguments=args)
        telemetry = current_telemetry()
        try:
            with telemetry.tool_call(name) if telemetry is not None else nullcontext():
                async with asyncio.timeout(timeout):
                    value = await _call(entry.fn, args)
        except TimeoutError:
            get_logger().warning("tool %s timed out after %ss", name, timeout)
            result.error_kind = TOOL_TIMEOUT
            result.output = error_output(
                TOOL_TIMEOUT,
                name,
                f"The tool timed out after {timeout:g} s (TOOL_TIMEOUT_SECONDS) and was "
                "cancelled. It was not retried.",
            )
            return result
        except Exception as exc:
            get_logger().warning("tool %s raised %s", name, type(exc).__name__)
            result.error_kind = TOOL_FAILED
            result.output = error_output(
                TOOL_FAILED,
                name,
                f"The tool failed: {type(exc).__name__}: {exc}. It was not retried.",
            )
            return result
        result.output = format_output(value, self.policy.max_output_chars)
        return result


async def _call(fn: Callable[..., Any], args: dict[str, Any]) -> Any:
    """Async callables are awaited; sync ones run in a thread so they never block the loop."""
    if inspect.iscoroutinefunction(fn):
        return await fn(**args)
    value = await asyncio.to_thread(fn, **args)
    if inspect.isawaitable(value):
        value = await value
    return value
