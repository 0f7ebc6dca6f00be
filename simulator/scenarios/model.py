"""The declarative scenario format (YAML), validated by pydantic.

A scenario scripts a whole conversation against the real stack: the fake Open WebUI host
loads the pipe, the fake OpenRouter answers over loopback. It says what the upstream answers
to each call the pipe makes, what the pipe must have sent, and what the user must end up
seeing. docs/scenarios.md documents every field with examples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolBehaviour(_Strict):
    """What a scripted tool does when the pipe calls it (in this order: sleep, then raise or return)."""

    returns: Any = None
    raises: str | None = None
    sleep: float = 0.0


class ToolDef(_Strict):
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    # One behaviour for every call, or one per call in order (the last one repeats).
    behaviour: ToolBehaviour | list[ToolBehaviour] = Field(default_factory=ToolBehaviour)
    sync: bool = False

    def behaviour_for(self, call_index: int) -> ToolBehaviour:
        if isinstance(self.behaviour, list):
            if not self.behaviour:
                return ToolBehaviour()
            return self.behaviour[min(call_index, len(self.behaviour) - 1)]
        return self.behaviour


class RequestExpectation(_Strict):
    """Partial expectations on the JSON body the pipe sent upstream."""

    # A JSON subset: dicts match partially, lists element-wise (same length) unless the
    # expected list is under `input_has`.
    match: dict[str, Any] = Field(default_factory=dict)
    # Each entry is a partial item that must appear somewhere in `input`.
    input_has: list[dict[str, Any]] = Field(default_factory=list)
    # Each entry is a partial item that must NOT appear in `input`.
    input_lacks: list[dict[str, Any]] = Field(default_factory=list)
    # Dotted paths that must be absent from the body (e.g. "tools", "reasoning").
    absent: list[str] = Field(default_factory=list)
    # Tool names that must be offered (a list of names), compared as a set.
    tool_names: list[str] | None = None
    # The exact sequence of input item types; messages as "message:<role>" (e.g.
    # ["message:user", "reasoning", "function_call", "function_call_output", ...]).
    input_types: list[str] | None = None


class UpstreamStep(_Strict):
    """One answer of the fake OpenRouter, consumed by one upstream call, in order."""

    script: dict[str, Any] | None = None
    events: list[dict[str, Any]] | None = None
    cassette: str | None = None
    status: int | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    fault: dict[str, Any] | str | None = None
    physics: dict[str, Any] | None = None
    down_models: list[str] = Field(default_factory=list)  # unavailable for this answer
    context_length: int | None = None  # the fake's context limit for this answer
    expect_request: RequestExpectation | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> UpstreamStep:
        kinds = [k for k in ("script", "events", "cassette", "status") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError(
                "an upstream step needs exactly one of script, events, cassette, status; "
                f"got {kinds or 'none'}"
            )
        return self


class ToolCallExpectation(_Strict):
    name: str
    arguments: dict[str, Any] | None = None


class TurnExpectation(_Strict):
    content: str | None = None
    content_contains: list[str] = Field(default_factory=list)
    content_lacks: list[str] = Field(default_factory=list)
    reasoning_contains: list[str] = Field(default_factory=list)
    no_reasoning: bool = False
    citations: list[str] | None = None  # URLs, in order
    status_contains: list[str] = Field(default_factory=list)
    usage: dict[str, Any] | None = None  # partial match on the usage the host reduced
    error_contains: list[str] = Field(default_factory=list)
    no_error: bool = True
    tool_calls: list[ToolCallExpectation] | None = None  # invocations of scripted tools, in order
    tool_call_count: int | None = None
    upstream_calls: int | None = None
    # Pass-through mode: tool calls the pipe handed back to Open WebUI in the chat shape.
    passthrough_tool_calls: list[ToolCallExpectation] | None = None
    # Replay markers (`[or:<id>]: #` lines) the answer must end with.
    markers: int | None = None
    # Rows per item type in the scenario's artifact store after the turn (all users).
    stored: dict[str, int] | None = None
    # Text that must not appear in any stored payload (they are encrypted).
    stored_lacks: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _error_implies(self) -> TurnExpectation:
        if self.error_contains:
            self.no_error = False
        return self


class UserSpec(_Strict):
    id: str = "user-1"
    name: str = "Ada"
    email: str = "ada@example.com"
    role: str = "user"
    valves: dict[str, Any] = Field(default_factory=dict)


class Turn(_Strict):
    user: str | list[dict[str, Any]] | None = None  # text, or content parts
    stream: bool = True
    task: str | None = None  # e.g. "title_generation"
    model: str | None = None  # overrides the scenario model for this turn
    features: dict[str, Any] = Field(default_factory=dict)
    body: dict[str, Any] = Field(default_factory=dict)  # extra chat-completions keys
    concurrent: int = 1  # run this turn N times at once (admission scenarios)
    upstream: list[UpstreamStep] = Field(default_factory=list)
    expect: TurnExpectation = Field(default_factory=TurnExpectation)
    # For concurrent turns: how many of the N runs must end in an error containing this text.
    expect_errors: dict[str, int] = Field(default_factory=dict)
    # Before this turn: continue in a clone of the chat (same history, new chat id), or in a
    # branch keeping only the first N messages of the history.
    clone: bool = False
    branch_at: int | None = None
    # Before this turn: replace the last assistant message's text (an edit in the UI).
    edit_last_assistant: str | None = None
    # This turn runs as another user with the same history (e.g. a pasted chat export).
    as_user: UserSpec | None = None


class ScenarioFile(_Strict):
    """A file in the fake Open WebUI's storage (uploaded by `owner`)."""

    name: str
    content_type: str
    owner: str = "user-1"
    text: str | None = None
    base64: str | None = None
    fixture: Literal["red.png", "report.pdf"] | None = None


class Scenario(_Strict):
    name: str
    description: str = ""
    model: str = "openai/gpt-4o-mini"  # the upstream slug; the runner adds the function id
    valves: dict[str, Any] = Field(default_factory=dict)
    user: UserSpec = Field(default_factory=UserSpec)
    system: str | None = None
    tools: dict[str, ToolDef] = Field(default_factory=dict)
    files: dict[str, ScenarioFile] = Field(default_factory=dict)  # id -> file in Open WebUI
    tool_mode: Literal["pipe", "passthrough"] = "pipe"
    turns: list[Turn]
    tags: list[str] = Field(default_factory=list)

    # Filled in by the loader: where the scenario came from (for cassette paths and reports).
    source: str = ""


class ScenarioFileError(Exception):
    """A scenario file that cannot be read or does not validate; the message names the file."""


def load_scenario_file(path: Path) -> list[Scenario]:
    """A file holds one scenario (a mapping) or several (a list, or a `scenarios:` key)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioFileError(f"{path}: cannot read YAML: {exc}") from exc
    if isinstance(data, dict) and "scenarios" in data:
        items = data["scenarios"]
    elif isinstance(data, list):
        items = data
    else:
        items = [data]
    scenarios: list[Scenario] = []
    for i, item in enumerate(items):
        try:
            scenario = Scenario.model_validate(item)
        except ValidationError as exc:
            raise ScenarioFileError(f"{path} (scenario #{i + 1}): {exc}") from exc
        scenario.source = str(path)
        scenarios.append(scenario)
    return scenarios


def discover(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.y*ml") if p.suffix in (".yaml", ".yml")))
        else:
            files.append(path)
    return files
