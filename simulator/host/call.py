"""Call `pipe()` the way Open WebUI 0.12.4 does (`generate_function_chat_completion`).

The pipe gets `body=` plus only the reserved names its signature lists, shaped as Open WebUI
shapes them. Emitter and caller exist only when the metadata has the keys `session_id`,
`chat_id` and `message_id` (key presence, not truthiness).
"""

from __future__ import annotations

import copy
import inspect
import time
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from simulator.host.loader import LoadedFunction

# Open WebUI-only request params that never reach the pipe (`apply_params_to_form_data`).
OWUI_ONLY_PARAMS = frozenset(
    {
        "stream_response",
        "function_calling",
        "reasoning_tags",
        "system",
        "stream_delta_chunk_size",
        "compact_token_threshold",
        "tool_approval_mode",
        "model_controls",
        "note_id",
        "custom_params",
    }
)

# Request keys moved into metadata (or dropped) before the pipe sees the body.
REMOVED_BODY_KEYS = (
    "metadata",
    "files",
    "features",
    "variables",
    "tool_ids",
    "terminal_id",
    "folder_id",
    "skill_ids",
    "chat_id",
    "id",
    "session_id",
    "parent_id",
    "user_message",
    "background_tasks",
    "model_item",
    "regeneration_prompt",
    "filter_ids",
    "tool_servers",
)

DISCONNECTED = {"error": "Client session disconnected."}
TIMED_OUT = {"error": "Event call timed out. The scripted answers ran out."}


@dataclass
class HostUser:
    """A user as Open WebUI's `UserModel.model_dump()` shows it to a pipe."""

    id: str = "user-1"
    email: str = "user@example.com"
    name: str = "Test User"
    role: str = "user"
    username: str | None = None
    settings: dict[str, Any] | None = None
    info: dict[str, Any] | None = None
    oauth: dict[str, Any] | None = None
    oauth_token: dict[str, Any] | None = None  # what `__oauth_token__` carries (SSO only)
    created_at: int = 1_700_000_000

    def model_dump(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "username": self.username,
            "role": self.role,
            "name": self.name,
            "profile_image_url": f"/api/v1/users/{self.id}/profile/image",
            "profile_banner_image_url": None,
            "bio": None,
            "gender": None,
            "date_of_birth": None,
            "timezone": None,
            "presence_state": None,
            "status_emoji": None,
            "status_message": None,
            "status_expires_at": None,
            "info": copy.deepcopy(self.info),
            # UserSettings: `ui` plus any extra keys (user valves live in settings.functions).
            "settings": None
            if self.settings is None
            else {"ui": {}, **copy.deepcopy(self.settings)},
            "oauth": copy.deepcopy(self.oauth),
            "scim": None,
            "last_active_at": self.created_at,
            "updated_at": self.created_at,
            "created_at": self.created_at,
        }


@dataclass
class EventCallRecord:
    event: dict[str, Any]
    answer: Any


class Timeline:
    """Everything the user would see, in arrival order: ("chunk", data) and ("event", event)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []

    @property
    def events(self) -> list[dict[str, Any]]:
        return [item for kind, item in self.items if kind == "event"]


class EventRecorder:
    """The `__event_emitter__`: an async callable that records every event in order."""

    def __init__(
        self, timeline: Timeline, publish: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self.timeline = timeline
        self._publish = publish  # also hand each event to HTTP subscribers (events_hub.py)

    async def __call__(self, event: dict[str, Any]) -> None:
        snapshot = _snapshot(event)
        self.timeline.items.append(("event", snapshot))
        if self._publish is not None:
            self._publish(snapshot)


class EventCaller:
    """The `__event_call__`: returns scripted answers in order.

    `answers` is a list (consumed in order) or a callable `event -> answer` (sync or async).
    Without a session the real host answers `{"error": "Client session disconnected."}`;
    when the script runs out this host answers like a timeout instead of waiting forever.
    """

    def __init__(self, answers: list[Any] | Callable[[dict], Any] | None, connected: bool):
        self._answers = answers if callable(answers) else list(answers or [])
        self.connected = connected
        self.calls: list[EventCallRecord] = []

    async def __call__(self, event: dict[str, Any]) -> Any:
        if not self.connected:
            answer: Any = dict(DISCONNECTED)
        elif callable(self._answers):
            answer = self._answers(event)
            if inspect.isawaitable(answer):
                answer = await answer
        elif self._answers:
            answer = self._answers.pop(0)
        else:
            answer = dict(TIMED_OUT)
        self.calls.append(EventCallRecord(_snapshot(event), answer))
        return answer


@dataclass
class ToolRun:
    name: str
    arguments: dict[str, Any]
    result: Any = None
    error: str | None = None


class HostRequest:
    """A minimal stand-in for FastAPI's Request: `app.state`, `state`, headers, url."""

    def __init__(self, app_state: SimpleNamespace, headers: dict[str, str] | None = None):
        self.app = SimpleNamespace(state=app_state)
        self.state = SimpleNamespace(direct=False, bypass_system_prompt=False)
        self.headers = dict(headers or {})
        self.method = "POST"
        self.url = SimpleNamespace(path="/api/chat/completions")
        self.base_url = "http://127.0.0.1/"
        self.cookies: dict[str, str] = {}
        self.query_params: dict[str, str] = {}
        self.client = SimpleNamespace(host="127.0.0.1", port=0)


def _snapshot(value: Any) -> Any:
    try:
        return copy.deepcopy(value)
    except Exception:  # unpicklable payloads are recorded as they are
        return value


_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}
_JSON_TYPES.update({list: "array", dict: "object"})


def spec_from_callable(name: str, fn: Callable) -> dict[str, Any]:
    """An OpenAI function spec from a signature (Open WebUI builds it from docstrings)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable string annotations: treat as strings
        hints = {}
    for pname, param in inspect.signature(fn).parameters.items():
        if pname.startswith("__") or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        annotation = hints.get(pname, param.annotation)
        annotation = annotation if annotation in _JSON_TYPES else str
        properties[pname] = {"type": _JSON_TYPES[annotation]}
        if param.default is param.empty:
            required.append(pname)
    doc = (inspect.getdoc(fn) or "").strip().splitlines()
    return {
        "name": name,
        "description": doc[0] if doc else "",
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


def build_tools(
    tools: dict[str, Any] | None, reserved: dict[str, Any], runs: list[ToolRun]
) -> dict[str, dict[str, Any]]:
    """`__tools__` as Open WebUI builds it: name -> {tool_id, callable, spec, metadata}.

    Each value is a callable or a dict with `callable` and optional `spec`/`tool_id`.
    The host's callable is always async, with reserved args the tool asks for pre-bound.
    """
    built: dict[str, dict[str, Any]] = {}
    for name, value in (tools or {}).items():
        entry = dict(value) if isinstance(value, dict) else {"callable": value}
        fn = entry.get("callable")
        if fn is None or not callable(fn):
            raise TypeError(f"tool {name!r} needs a callable (got {fn!r})")
        spec = dict(entry.get("spec") or spec_from_callable(name, fn))
        spec["name"] = name
        built[name] = {
            "tool_id": entry.get("tool_id", "host_tools"),
            "callable": _bind_tool(name, fn, reserved, runs),
            "spec": spec,
            "metadata": entry.get("metadata", {"file_handler": False, "citation": False}),
        }
    return built


def _bind_tool(name: str, fn: Callable, reserved: dict[str, Any], runs: list[ToolRun]):
    wanted = inspect.signature(fn).parameters
    bound = {k: v for k, v in reserved.items() if k in wanted}

    async def tool_callable(**kwargs: Any) -> Any:
        run = ToolRun(name, _snapshot(kwargs))
        runs.append(run)
        try:
            result = fn(**kwargs, **bound)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            run.error = f"{type(exc).__name__}: {exc}"
            raise
        run.result = result
        return result

    tool_callable.__name__ = name
    return tool_callable


def apply_params_to_body(body: dict[str, Any]) -> dict[str, Any]:
    """Flatten `params` into top-level keys, dropping Open WebUI-only ones."""
    params = body.pop("params", None) or {}
    if params.get("stream_response") is not None:
        body["stream"] = bool(params["stream_response"])
    for key, value in params.items():
        if key not in OWUI_ONLY_PARAMS and value is not None:
            body[key] = value
    return body


def last_user_message(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """`utils.misc.get_last_user_message_item`: a message without a role is a KeyError
    (Open WebUI answers it with a 400 whose detail is `'role'`)."""
    for message in reversed(messages):
        if message["role"] == "user":
            return message
    return None


def add_or_update_system_message(content: str, messages: list[dict]) -> list[dict]:
    """`utils/misc.py`: prepend to the first system message, or insert one."""
    if messages and messages[0].get("role") == "system":
        messages[0]["content"] = f"{content}\n{messages[0]['content']}"
    else:
        messages.insert(0, {"role": "system", "content": content})
    return messages


def apply_workspace_model(body: dict[str, Any], workspace: dict[str, Any] | None) -> dict:
    """A workspace model row: base model id, params and system prompt applied to the body."""
    if not workspace:
        return body
    if workspace.get("base_model_id"):
        body["model"] = workspace["base_model_id"]
    params = dict(workspace.get("params") or {})
    system = params.pop("system", None)
    for key, value in params.items():
        if value is not None and key not in OWUI_ONLY_PARAMS:
            body[key] = value
    if system:
        body["messages"] = add_or_update_system_message(system, list(body.get("messages", [])))
    return body


def pipe_id_of(model_id: str) -> str:
    return model_id.split(".", 1)[0]


def reserved_arguments(
    *,
    fn: LoadedFunction,
    metadata: dict[str, Any],
    user: HostUser,
    request: HostRequest,
    emitter: EventRecorder | None,
    caller: EventCaller | None,
) -> dict[str, Any]:
    """Every reserved name Open WebUI 0.12.4 can inject into a pipe, with its value."""
    return {
        "__event_emitter__": emitter,
        "__event_call__": caller,
        "__chat_id__": metadata.get("chat_id"),
        "__session_id__": metadata.get("session_id"),
        "__message_id__": metadata.get("message_id"),
        "__task__": metadata.get("task"),
        "__task_body__": metadata.get("task_body"),
        "__files__": metadata.get("files") or [],
        "__user__": user.model_dump(),
        "__metadata__": metadata,
        "__request__": request,
        "__tools__": metadata.get("tools", {}),
        "__oauth_token__": user.oauth_token,
    }


def select_arguments(
    fn: LoadedFunction, body: dict[str, Any], extra: dict[str, Any], user: HostUser
) -> dict[str, Any]:
    """`body=` plus the names the signature lists; `__user__["valves"]` when UserValves exists."""
    signature = inspect.signature(fn.instance.pipe)
    params = {"body": body} | {k: v for k, v in extra.items() if k in signature.parameters}
    if "__user__" in params and fn.has_user_valves:
        params["__user__"]["valves"] = fn.user_valves_instance(user.id)
    return params


async def execute_pipe(pipe: Callable, params: dict[str, Any]) -> Any:
    """Coroutine functions are awaited; anything else is called on the event loop."""
    if inspect.iscoroutinefunction(pipe):
        return await pipe(**params)
    return pipe(**params)


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> int:
    return int(time.time())
