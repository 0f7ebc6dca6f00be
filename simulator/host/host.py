"""`FakeHost`: a faithful in-process Open WebUI 0.12.4 for pipe functions.

    host = FakeHost.from_file("my_pipe.py", function_id="my_pipe", valves={"BASE_URL": url})
    models = await host.models()
    t = await host.chat(messages=[{"role": "user", "content": "hi"}], model="my_pipe.gpt")
    t.message.content, t.events, t.chunks, t.raw

`prepare()` + `stream()`/`answer()` are the pieces the HTTP server reuses.
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from starlette.responses import StreamingResponse

from simulator.host import call as C
from simulator.host import owui_modules
from simulator.host.events_hub import EventHub
from simulator.host.loader import LoadedFunction, default_function_id, load_function
from simulator.host.models import list_models
from simulator.host.output import (
    MidStreamError,
    api_stream,
    json_response_bytes,
    non_stream_content,
    stream_content,
)
from simulator.host.reduce import SSEParser, host_events, reduce_timeline
from simulator.host.tasks import TASK_ENDPOINTS, endpoint_of, parse_task_output, task_body
from simulator.host.toolloop import message_error, round_result, run_tool_calls
from simulator.host.transcript import Transcript


class ModelNotFoundError(LookupError):
    """Open WebUI answers 400 {"detail": "Model not found"}."""


@dataclass
class PreparedCall:
    """Everything needed to run one pipe call; produced by `FakeHost.prepare`."""

    fn: LoadedFunction
    model: str
    stream: bool
    body: dict[str, Any]
    metadata: dict[str, Any]
    arguments: dict[str, Any]
    timeline: C.Timeline
    caller: C.EventCaller | None
    tool_runs: list[C.ToolRun]

    async def run(self) -> Any:
        return await C.execute_pipe(self.fn.instance.pipe, self.arguments)


class FakeHost:
    def __init__(
        self,
        functions: list[LoadedFunction] | None = None,
        *,
        workspace_models: dict[str, dict[str, Any]] | None = None,
        default_user: C.HostUser | None = None,
    ) -> None:
        owui_modules.install()  # Open WebUI's files/models modules, for the pipe's adapter
        self.functions: dict[str, LoadedFunction] = {f.id: f for f in functions or []}
        self.workspace_models = dict(workspace_models or {})
        self.default_user = default_user or C.HostUser()
        self.models_cache: dict[str, dict[str, Any]] = {}
        self.event_hub: EventHub | None = None  # set by the HTTP server (GET /api/host/events)
        self.app_state = SimpleNamespace(
            MODELS=self.models_cache,
            FUNCTIONS={f.id: f.instance for f in self.functions.values()},
            redis=None,
            config=SimpleNamespace(),
        )

    # -- functions and valves ------------------------------------------------------------
    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        function_id: str | None = None,
        name: str | None = None,
        valves: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> FakeHost:
        host = cls(**kwargs)
        host.add_function(path, function_id=function_id, name=name, valves=valves)
        return host

    def add_function(
        self,
        path: str | Path | None = None,
        *,
        content: str | None = None,
        function_id: str | None = None,
        name: str | None = None,
        valves: dict[str, Any] | None = None,
    ) -> LoadedFunction:
        """Load a file (or source text) as a function; stored valves applied on every use."""
        if content is None:
            if path is None:
                raise ValueError("add_function needs a path or content")
            content = Path(path).read_text(encoding="utf-8")
        fid = function_id or (default_function_id(str(path)) if path else None)
        if fid is None:
            raise ValueError("add_function(content=...) needs a function_id")
        fn = load_function(content, fid, name=name, valves=valves, created_at=int(time.time()))
        self.functions[fn.id] = fn
        self.app_state.FUNCTIONS[fn.id] = fn.instance
        self.models_cache.clear()
        return fn

    def update_function(self, function_id: str, content: str) -> LoadedFunction:
        """`/functions/id/{id}/update`: re-exec (new instance) only when the source changed."""
        fn = self.function(function_id)
        fn.reload(content)
        self.app_state.FUNCTIONS[fn.id] = fn.instance
        return fn

    def function(self, function_id: str) -> LoadedFunction:
        try:
            return self.functions[function_id]
        except KeyError:
            raise ModelNotFoundError(f"no function {function_id!r}") from None

    async def aclose(self) -> None:
        """Close what the loaded functions opened (HTTP sessions, database engines, queues),
        while the caller's event loop still runs. Open WebUI itself never does this: its
        process just ends; a fake host that lives for one test or scenario must not leak."""
        for fn in list(self.functions.values()):
            close = getattr(fn.module, "close_runtimes", None)
            if close is not None:
                await close()

    def set_valves(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        return self.function(function_id).set_valves(values)

    def set_user_valves(self, function_id: str, user_id: str, values: dict) -> dict[str, Any]:
        return self.function(function_id).set_user_valves(user_id, values)

    # -- models ----------------------------------------------------------------------------
    async def models(self) -> list[dict[str, Any]]:
        """`GET /api/models`: rebuilds the model cache (valves re-applied, `pipes` evaluated)."""
        listed = await list_models(list(self.functions.values()))
        self.models_cache.clear()
        self.models_cache.update({m["id"]: m for m in listed})
        for wid, row in self.workspace_models.items():
            base = self.models_cache.get(row.get("base_model_id", ""))
            if base is not None:
                self.models_cache[wid] = {**base, "id": wid, "name": row.get("name", wid)}
                self.models_cache[wid]["info"] = {"id": wid, **row}
        return list(self.models_cache.values())

    def _publisher(
        self, user: C.HostUser, meta: dict[str, Any]
    ) -> Callable[[dict[str, Any]], None] | None:
        """Events to the user's HTTP subscribers, shaped like the real host's socket.io
        `events` messages (an API chat has chat_id "" and message_id null)."""
        hub = self.event_hub
        if hub is None:
            return None
        chat_id, message_id = meta.get("chat_id") or "", meta.get("message_id") or None

        def publish(event: dict[str, Any]) -> None:
            hub.publish(user.id, {"chat_id": chat_id, "message_id": message_id, "data": event})

        return publish

    async def resolve_model(self, model: str | None) -> dict[str, Any]:
        """The chat endpoint rebuilds the cache only when it is empty (a real gotcha)."""
        if not self.models_cache:
            await self.models()
        if model is None:
            if len(self.models_cache) != 1:
                raise ModelNotFoundError(
                    f"model=None is ambiguous; available: {sorted(self.models_cache)}"
                )
            model = next(iter(self.models_cache))
        if model not in self.models_cache:
            raise ModelNotFoundError("Model not found")
        return self.models_cache[model]

    # -- one call --------------------------------------------------------------------------
    async def prepare(
        self,
        form: dict[str, Any],
        *,
        user: C.HostUser | None = None,
        user_valves: dict[str, Any] | None = None,
        tools: dict[str, Any] | None = None,
        event_call_answers: list[Any] | Callable | None = None,
        ui: bool = False,
        metadata: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeline: C.Timeline | None = None,
    ) -> PreparedCall:
        """Build body, metadata and reserved arguments from a chat-completions request form."""
        user = user or self.default_user
        try:
            form = copy.deepcopy(form)
        except RecursionError:  # nested deeper than copy can go; Open WebUI copies no deeper
            form = dict(form)
        model_dict = await self.resolve_model(form.get("model"))
        form["model"] = model_dict["id"]
        popped = {k: form.pop(k) for k in C.REMOVED_BODY_KEYS if k in form}
        popped["_messages"] = form.get("messages", [])
        features = popped.get("features") or {}
        params = dict(form.get("params") or {})
        body = C.apply_params_to_body(form)
        body = C.apply_workspace_model(body, self.workspace_models.get(body["model"]))
        fn = self.function(C.pipe_id_of(body["model"]))
        if user_valves is not None:
            fn.set_user_valves(user.id, user_valves)
        fn.apply_valves()  # get_function_module_by_id, before every call

        meta = self._metadata(popped, user, model_dict, params, ui, features)
        C.last_user_message(form.get("messages") or [])  # raises where process_chat_payload does
        meta.update(metadata or {})
        timeline = timeline or C.Timeline()
        has_channel = all(k in meta for k in ("session_id", "chat_id", "message_id"))
        emitter = C.EventRecorder(timeline, self._publisher(user, meta)) if has_channel else None
        caller = (
            C.EventCaller(event_call_answers, bool(meta.get("session_id"))) if has_channel else None
        )
        request = C.HostRequest(self.app_state, headers)
        runs: list[C.ToolRun] = []
        reserved = C.reserved_arguments(
            fn=fn, metadata=meta, user=user, request=request, emitter=emitter, caller=caller
        )
        if tools:
            meta["tools"] = C.build_tools(tools, reserved, runs)
            reserved["__tools__"] = meta["tools"]
            if params.get("function_calling", "native") != "legacy" and "tools" not in body:
                body["tools"] = [
                    {"type": "function", "function": t["spec"]} for t in meta["tools"].values()
                ]
        arguments = C.select_arguments(fn, body, reserved, user)
        return PreparedCall(
            fn,
            body["model"],
            bool(body.get("stream", False)),
            body,
            meta,
            arguments,
            timeline,
            caller,
            runs,
        )

    def _metadata(self, popped, user, model_dict, params, ui, features) -> dict[str, Any]:
        """`main.py chat_completion` metadata (0.12.4 key order): API calls get chat_id ""."""
        session_id = popped.get("session_id") or (f"sid-{C.new_id()[:8]}" if ui else None)
        chat_id = popped.get("chat_id") or (C.new_id() if ui else "")
        message_id = popped.get("id") or (C.new_id() if ui else None)
        user_message = popped.get("user_message")
        system_messages = [m for m in popped.get("_messages", []) if m.get("role") == "system"]
        return {
            "tool_approval_resume": None,
            "user_id": user.id,
            "user_agent": "orsim-host",
            "internal": False,
            "chat_id": chat_id,
            "user_message": user_message,
            "user_message_id": user_message.get("id") if isinstance(user_message, dict) else None,
            "assistant_message_id": None,
            "regeneration_message_id": None,
            "session_id": session_id,
            "automation_id": None,
            "folder_id": popped.get("folder_id"),
            "filter_ids": popped.get("filter_ids") or [],
            "tool_ids": popped.get("tool_ids"),
            "tool_servers": popped.get("tool_servers"),
            "files": popped.get("files"),
            "features": features,
            "variables": popped.get("variables") or {},
            "chat_variables": {},
            "chat_context": {
                "messages": copy.deepcopy(system_messages),
                "params": {},
                "chat_variables": {},
            },
            "model": model_dict,
            "direct": False,
            "params": {
                "stream_delta_chunk_size": params.get("stream_delta_chunk_size"),
                "reasoning_tags": params.get("reasoning_tags"),
                "compact_token_threshold": params.get("compact_token_threshold"),
                "function_calling": params.get("function_calling") or "native",
                "tool_approval_mode": "full",
                "model_controls": {},
            },
            "message_id": message_id,
        }

    def stream(self, prepared: PreparedCall) -> AsyncIterator[str | bytes]:
        """The SSE body of the API path (`stream_content` inside the error-catching wrapper)."""
        return api_stream(stream_content(prepared.run, prepared.model))

    async def answer(self, prepared: PreparedCall) -> tuple[int, Any]:
        """The non-streaming answer as (HTTP status, JSON payload or StreamingResponse)."""
        try:
            return 200, await non_stream_content(prepared.run, prepared.model)
        except MidStreamError as exc:
            return 400, {"detail": str(exc)}

    # -- the in-process API ----------------------------------------------------------------
    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str | None = None,
        stream: bool = True,
        user: C.HostUser | None = None,
        user_valves: dict[str, Any] | None = None,
        tools: dict[str, Any] | None = None,
        features: dict[str, Any] | None = None,
        files: list[dict[str, Any]] | None = None,
        params: dict[str, Any] | None = None,
        event_call_answers: list[Any] | Callable | None = None,
        ui: bool = False,
        chat_id: str | None = None,
        message_id: str | None = None,
        session_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        extra_body: dict[str, Any] | None = None,
        max_tool_rounds: int = 8,
    ) -> Transcript:
        """One chat turn. `ui=True` simulates a browser turn (ids set, native tool loop)."""
        form: dict[str, Any] = {
            "model": model,
            "messages": copy.deepcopy(messages),
            "stream": stream,
        }
        for key, value in (
            ("features", features),
            ("files", files),
            ("params", params),
            ("chat_id", chat_id),
            ("id", message_id),
            ("session_id", session_id),
        ):
            if value is not None:
                form[key] = value
        form.update(extra_body or {})
        timeline = C.Timeline()
        transcript: Transcript | None = None
        for round_no in range(max(0, max_tool_rounds) + 1):
            prepared = await self.prepare(
                form,
                user=user,
                user_valves=user_valves,
                tools=tools,
                event_call_answers=event_call_answers,
                ui=ui,
                metadata=metadata,
                timeline=timeline,
            )
            if transcript is None:
                transcript = Transcript(
                    model=prepared.model, stream=prepared.stream, metadata=prepared.metadata, ui=ui
                )
                # Later tool-loop rounds belong to the same chat, message and session.
                for form_key, meta_key in (
                    ("chat_id", "chat_id"),
                    ("id", "message_id"),
                    ("session_id", "session_id"),
                ):
                    form[form_key] = prepared.metadata.get(meta_key)
                user_valves = None  # stored now; later rounds read the stored values
            start = len(timeline.items)
            await self._collect(prepared, transcript, ui)
            round_items = timeline.items[start:]
            calls, text = round_result(round_items, params)
            transcript.round_texts.append(text)
            if not ui or any(kind == "failed" for kind, _ in round_items):
                break
            if not calls:
                break
            if round_no == max_tool_rounds:  # the UI path's iteration limit
                limit = f"Tool-call limit reached ({max_tool_rounds} iterations)."
                timeline.items.append(("event", message_error(limit)))
                break
            # The UI path's native tool loop: run the calls, then call the pipe again.
            ran_before = len(prepared.tool_runs)
            form["messages"] = form["messages"] + await run_tool_calls(calls, text, prepared)
            transcript.tool_runs.extend(prepared.tool_runs[ran_before:])  # the host ran these
            form["stream"] = True
        assert transcript is not None
        transcript.timeline = list(timeline.items)
        transcript.events = timeline.events
        return _finish(transcript, params)

    async def _collect(self, prepared: PreparedCall, transcript: Transcript, ui: bool) -> None:
        transcript.bodies.append(copy.deepcopy(prepared.body))
        items = prepared.timeline.items

        def add(payload: Any) -> None:
            transcript.chunks.append(payload)
            items.append(("chunk", payload))
            if ui:  # the middleware's own events (sources from annotations, image files)
                items.extend(("event", event) for event in host_events(payload))

        if prepared.stream:
            parser = SSEParser()
            # The UI path reads the pipe's stream itself; the API path sends it through
            # the wrapper that turns a mid-stream exception into an error frame.
            source = stream_content(prepared.run, prepared.model) if ui else self.stream(prepared)
            try:
                async for piece in source:
                    data = piece.encode() if isinstance(piece, str) else bytes(piece)
                    transcript.raw += data
                    for payload in parser.feed(data):
                        add(payload)
            except Exception as exc:  # UI path only: the message gets the error, no content
                items.append(("event", message_error(str(exc), done=True)))
                items.append(("failed", str(exc)))
            for payload in parser.close():
                add(payload)
        else:
            status, payload = await self.answer(prepared)
            transcript.status_code = status
            if isinstance(payload, StreamingResponse):  # returned as the HTTP response as is
                parser = SSEParser()
                async for piece in payload.body_iterator:
                    data = piece.encode() if isinstance(piece, str) else bytes(piece)
                    transcript.raw += data
                    for chunk in parser.feed(data):
                        add(chunk)
                for chunk in parser.close():
                    add(chunk)
            else:
                transcript.response = payload
                transcript.raw += json_response_bytes(payload)
                items.append(("response", payload))
        if prepared.caller is not None:
            transcript.event_calls.extend(prepared.caller.calls)
        transcript.tool_runs.extend(prepared.tool_runs)

    async def task(
        self,
        task: str,
        *,
        messages: list[dict[str, Any]],
        model: str | None = None,
        user: C.HostUser | None = None,
        chat_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Transcript:
        """A background task (`title`, `tags`, `follow_up`, ... or `title_generation`, ...).

        Direct `/api/v1/tasks/*` calls carry only task, task_body and chat_id (no emitter);
        pass `metadata=` of a UI chat transcript to run it as the UI does (emitter live).
        """
        endpoint = endpoint_of(task)
        model_dict = await self.resolve_model(model)
        original = {"model": model_dict["id"], "messages": messages, "chat_id": chat_id}
        form = task_body(
            endpoint,
            model_dict["id"],
            messages,
            user=(user or self.default_user).model_dump(),
            model_info=model_dict,
        )
        meta = {**(metadata or {})} if metadata else {}
        meta.update(
            {"task": TASK_ENDPOINTS[endpoint][0], "task_body": original, "chat_id": chat_id}
        )
        prepared = await self.prepare_task(form, meta, user)
        transcript = Transcript(model=prepared.model, stream=False, metadata=prepared.metadata)
        await self._collect(prepared, transcript, ui=False)
        transcript.timeline = list(prepared.timeline.items)
        transcript.events = prepared.timeline.events
        transcript.task = parse_task_output(endpoint, transcript.response, messages)
        return _finish(transcript, None)

    async def prepare_task(self, form: dict, meta: dict, user: C.HostUser | None) -> PreparedCall:
        """Task calls skip `process_chat_payload`: the metadata is exactly what is given."""
        user = user or self.default_user
        fn = self.function(C.pipe_id_of(form["model"]))
        fn.apply_valves()
        timeline = C.Timeline()
        has_channel = all(k in meta for k in ("session_id", "chat_id", "message_id"))
        emitter = C.EventRecorder(timeline) if has_channel else None
        caller = C.EventCaller(None, bool(meta.get("session_id"))) if has_channel else None
        reserved = C.reserved_arguments(
            fn=fn,
            metadata=meta,
            user=user,
            request=C.HostRequest(self.app_state),
            emitter=emitter,
            caller=caller,
        )
        arguments = C.select_arguments(fn, form, reserved, user)
        return PreparedCall(fn, form["model"], False, form, meta, arguments, timeline, caller, [])


def _finish(transcript: Transcript, params: dict | None) -> Transcript:
    transcript.message = reduce_timeline(
        transcript.timeline,
        (params or {}).get("reasoning_tags"),
        derive_host_events=not transcript.ui,
    )
    if transcript.status_code != 200 and transcript.message.error is None:
        transcript.message.error = str((transcript.response or {}).get("detail"))
    return transcript
