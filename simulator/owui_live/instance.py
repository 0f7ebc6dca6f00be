"""A live Open WebUI 0.12.4 on loopback, driven over its REST API and socket.io.

    with OpenWebUI.start() as owui:                       # install (cached), start, sign up admin
        owui.create_function("my_pipe.py", id="my_pipe", valves={"BASE_URL": sim.base_url})
        reply = await owui.chat("my_pipe", [{"role": "user", "content": "hi"}], stream=True)
        async with owui.events() as capture:
            ui = await owui.ui_chat(capture, "my_pipe", [...])   # events + the stored message

Setup calls are synchronous (fixtures, CLI); chat calls are async so an in-process fake
OpenRouter on the caller's event loop keeps serving while we wait for Open WebUI.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from simulator.owui_live import process
from simulator.owui_live.install import OwuiVenv, ensure_installed
from simulator.owui_live.socket_events import EventCapture
from simulator.owui_live.sse import ChatReply

ADMIN = {"name": "Admin", "email": "admin@example.com", "password": "Passw0rd!Passw0rd"}
# uvicorn closes a connection idle for 5 s (its `timeout_keep_alive`); httpx's default expiry
# is also 5 s, so a request sent on a connection idle for about 5 s can meet the server's close
# and fail with "Server disconnected without sending a response". Idle connections are
# dropped by this side first.
KEEPALIVE_EXPIRY = 1.0
LIMITS = httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY)


class RestError(RuntimeError):
    """A non-2xx answer from Open WebUI's REST API."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {body[:500]}")
        self.status = status
        self.body = body


@dataclass
class UIChat:
    """A chat sent the way the browser sends it: events over the socket, result stored."""

    chat_id: str
    message_id: str
    accepted: dict[str, Any]  # the immediate HTTP reply {status, task_ids, chat_id}
    events: list[dict[str, Any]] = field(default_factory=list)  # socket events, in order
    message: dict[str, Any] = field(default_factory=dict)  # stored assistant message
    chat: dict[str, Any] = field(default_factory=dict)  # the whole stored chat


class OpenWebUI:
    """One running server. Build it with `OpenWebUI.start()`."""

    def __init__(self, proc, base_url: str, data_dir: Path, log_path: Path) -> None:
        self.proc = proc
        self.base_url = base_url
        self.data_dir = data_dir
        self.log_path = log_path
        self.token: str | None = None
        self.user: dict[str, Any] = {}
        self.startup_seconds = 0.0
        self.turn_settle_seconds = 2.0
        self._http = httpx.Client(base_url=base_url, timeout=30.0, limits=LIMITS)

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def start(
        cls,
        venv: OwuiVenv | Path | None = None,
        *,
        env: dict[str, str] | None = None,
        startup_timeout: float = 180.0,
        signup: bool = True,
    ) -> Iterator[OpenWebUI]:
        """Start a fresh server; on exit stop it. The temp dir (data + log) is removed on a
        clean exit and kept, with its path printed, when the body or startup failed."""
        if not isinstance(venv, OwuiVenv):
            venv = ensure_installed(venv)
        root = Path(tempfile.mkdtemp(prefix="orsim-owui-"))
        log_path = root / "open-webui.log"
        workers = int((env or {}).get("UVICORN_WORKERS", "1"))
        if workers > 1:
            # Several workers booting on a fresh database race each other through Open
            # WebUI's migrations and first config insert (one dies on a duplicate key). An
            # operator prepares the database with one worker first; so does this.
            process.prepare_database(
                venv.path, root / "data", root / "prepare.log", env, startup_timeout
            )
        port = process.free_port()
        proc = process.launch(venv.path, root / "data", port, log_path, env)
        owui = cls(proc, f"http://127.0.0.1:{port}", root / "data", log_path)
        failed = True
        try:
            owui.startup_seconds = process.wait_healthy(
                proc, owui.base_url, log_path, startup_timeout, workers
            )
            if signup:
                owui.signup(**ADMIN)
            yield owui
            failed = False
        finally:
            owui._http.close()
            process.stop(proc)
            if failed:
                print(f"[owui-live] kept logs and data in {root} (log: {log_path})")
            else:
                shutil.rmtree(root, ignore_errors=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """CPU time (user+system) the server process tree has used so far."""
        return process.process_tree_cpu_seconds(self.pid)

    def log_tail(self, lines: int = 40) -> str:
        return process.log_tail(self.log_path, lines)

    def worker_events(self) -> list[str]:
        """uvicorn's worker lines so far: one start per worker, and any death and restart."""
        return process.worker_events(self.log_path)

    # -- REST ------------------------------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(self, method: str, path: str, json: Any = None) -> Any:
        resp = self._http.request(method, path, json=json, headers=self.headers)
        if resp.status_code >= 300:
            raise RestError(method, path, resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def signup(self, name: str, email: str, password: str) -> dict[str, Any]:
        """Sign up; the first account becomes admin. Its token is used from then on."""
        user = self.request(
            "POST", "/api/v1/auths/signup", {"name": name, "email": email, "password": password}
        )
        self.token, self.user = user["token"], user
        return user

    def create_function(
        self,
        path: str | Path,
        *,
        id: str | None = None,
        name: str | None = None,
        valves: dict[str, Any] | None = None,
        user_valves: dict[str, Any] | None = None,
        activate: bool = True,
        replace: bool = True,
    ) -> dict[str, Any]:
        """Create a function from ANY function file, activate it, set valves, refresh models."""
        path = Path(path)
        function_id = (id or path.stem).lower()
        body = {
            "id": function_id,
            "name": name or function_id,
            "content": path.read_text(),
            "meta": {"description": f"from {path.name}"},
        }
        if replace and self.get_function(function_id) is not None:
            self.delete_function(function_id)
        created = self.request("POST", "/api/v1/functions/create", body)
        if activate and not created.get("is_active"):
            created = self.request("POST", f"/api/v1/functions/id/{function_id}/toggle")
        if valves:
            self.set_valves(function_id, valves)
        if user_valves:
            self.set_user_valves(function_id, user_valves)
        self.models()  # the model cache is only rebuilt on listing (recipe, gotcha 1)
        return created

    def get_function(self, function_id: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", f"/api/v1/functions/id/{function_id}")
        except RestError as exc:
            if exc.status in (401, 404):
                return None
            raise

    def update_function(self, function_id: str, path: str | Path) -> dict[str, Any]:
        current = self.request("GET", f"/api/v1/functions/id/{function_id}")
        body = {
            "id": function_id,
            "name": current["name"],
            "content": Path(path).read_text(),
            "meta": current["meta"],
        }
        updated = self.request("POST", f"/api/v1/functions/id/{function_id}/update", body)
        self.models()
        return updated

    def delete_function(self, function_id: str) -> None:
        self.request("DELETE", f"/api/v1/functions/id/{function_id}/delete")
        self.models()

    def set_valves(self, function_id: str, valves: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/api/v1/functions/id/{function_id}/valves/update", valves)

    def set_user_valves(self, function_id: str, valves: dict[str, Any]) -> dict[str, Any]:
        return self.request(
            "POST", f"/api/v1/functions/id/{function_id}/valves/user/update", valves
        )

    def models(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/models")["data"]

    # -- tools (workspace tools: a Python file with `class Tools`) ---------------------------

    def create_tool(
        self, path: str | Path, *, id: str | None = None, replace: bool = True
    ) -> dict[str, Any]:
        """Create a workspace tool from a tools file; chats use it with `tool_ids=[id]`."""
        path = Path(path)
        tool_id = (id or path.stem).lower()
        body = {
            "id": tool_id,
            "name": tool_id,
            "content": path.read_text(),
            "meta": {"description": f"from {path.name}"},
        }
        if replace and self.get_tool(tool_id) is not None:
            self.delete_tool(tool_id)
        return self.request("POST", "/api/v1/tools/create", body)

    def get_tool(self, tool_id: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", f"/api/v1/tools/id/{tool_id}")
        except RestError as exc:
            if exc.status in (401, 404):
                return None
            raise

    def delete_tool(self, tool_id: str) -> None:
        self.request("DELETE", f"/api/v1/tools/id/{tool_id}/delete")

    # -- chats -----------------------------------------------------------------------------

    def _async_client(self, timeout: float) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url, headers=self.headers, timeout=timeout, limits=LIMITS
        )

    async def chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: bool = True,
        time_limit: float = 60.0,
        **extra: Any,
    ) -> ChatReply:
        """API-style chat on /api/chat/completions; raw SSE bytes (or JSON) are kept."""
        body = {"model": model, "messages": messages, "stream": stream, **extra}
        async with self._async_client(time_limit) as client:
            async with client.stream("POST", "/api/chat/completions", json=body) as resp:
                raw = await resp.aread()
        return ChatReply.from_http(
            resp.status_code, resp.headers.get("content-type", ""), raw, stream
        )

    async def task(
        self, kind: str, model: str, messages: list[dict[str, Any]], **extra: Any
    ) -> tuple[int, Any]:
        """Call a task endpoint directly, e.g. kind="title" -> /api/v1/tasks/title/completions."""
        body = {"model": model, "messages": messages, **extra}
        async with self._async_client(60.0) as client:
            resp = await client.post(f"/api/v1/tasks/{kind}/completions", json=body)
        try:
            return resp.status_code, resp.json()
        except ValueError:
            return resp.status_code, resp.text

    def events(self) -> EventCapture:
        """A socket.io client for this user; use as `async with owui.events() as capture:`."""
        return EventCapture(self.base_url, self.token or "")

    async def ui_chat(
        self,
        capture: EventCapture,
        model: str,
        messages: list[dict[str, Any]],
        *,
        time_limit: float = 30.0,
        **extra: Any,
    ) -> UIChat:
        """Chat as the browser does (session id, message ids, new chat), wait until the answer
        is stored, and return the socket events plus the stored assistant message."""
        user_id, assistant_id = str(uuid.uuid4()), str(uuid.uuid4())
        last = messages[-1]
        body = {
            "model": model,
            "messages": messages,
            "stream": True,
            "session_id": capture.sid,
            "id": assistant_id,
            "parent_id": None,
            "user_message": {
                "id": user_id,
                "role": "user",
                "content": last.get("content", ""),
                "parentId": None,
                "childrenIds": [],
                "timestamp": int(time.time()),
            },
            "background_tasks": {},
            "features": {},
            "variables": {},
            **extra,
        }
        async with self._async_client(time_limit) as client:
            accepted = await self._post_turn(client, body, extra.get("chat_id"), assistant_id)
            chat_id = accepted.get("chat_id")
            if not chat_id:
                raise RestError("POST", "/api/chat/completions", 200, f"no chat_id in {accepted}")
            result = UIChat(chat_id=chat_id, message_id=assistant_id, accepted=accepted)
            result.chat, result.message = await self._wait_stored(
                client, chat_id, assistant_id, time_limit
            )
        # `chat:active {active: false}` is the last event Open WebUI sends for a UI chat.
        await capture.wait_for(
            lambda e: (
                e.get("chat_id") == chat_id
                and (e.get("data") or {}).get("type") == "chat:active"
                and ((e.get("data") or {}).get("data") or {}).get("active") is False
            ),
            time_limit,
        )
        result.events = [
            e for e in capture.for_chat(chat_id) if e.get("message_id") == assistant_id
        ]
        return result

    async def _post_turn(
        self, client: httpx.AsyncClient, body: dict[str, Any], chat_id: str | None, message_id: str
    ) -> dict[str, Any]:
        """POST a UI turn; Open WebUI's immediate reply. A turn is not idempotent (sent twice,
        it runs twice), so one whose answer was lost is never sent again: if the chat holds
        it, the server took it and it is awaited like any other; else the error stands."""
        try:
            resp = await client.post("/api/chat/completions", json=body)
        except httpx.TransportError as exc:
            print(f"[owui-live] {exc!r} on POST /api/chat/completions; log tail:")
            print(self.log_tail(80))
            if chat_id and await self._holds_message(client, chat_id, message_id):
                return {"chat_id": chat_id}
            raise
        if resp.status_code >= 300:
            raise RestError("POST", "/api/chat/completions", resp.status_code, resp.text)
        accepted: dict[str, Any] = resp.json()
        return accepted

    async def _holds_message(
        self, client: httpx.AsyncClient, chat_id: str, message_id: str
    ) -> bool:
        await asyncio.sleep(self.turn_settle_seconds)  # a turn the server took is in it by now
        resp = await client.get(f"/api/v1/chats/{chat_id}")
        resp.raise_for_status()
        messages = ((resp.json().get("chat") or {}).get("history") or {}).get("messages", {})
        return message_id in messages

    async def _wait_stored(
        self, client: httpx.AsyncClient, chat_id: str, message_id: str, time_limit: float
    ):
        deadline = time.monotonic() + time_limit
        shown = False
        while True:
            try:
                resp = await client.get(f"/api/v1/chats/{chat_id}")
            except httpx.TransportError as exc:
                # A read is safe to repeat: the pool opens a new connection. The log shows why
                # the last one went (nothing should drop one: see KEEPALIVE_EXPIRY).
                if not shown:
                    shown = True
                    print(f"[owui-live] {exc!r} polling chat {chat_id}; log tail:")
                    print(self.log_tail(80))
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
                continue
            if resp.status_code == 200:
                chat = resp.json()
                message = ((chat.get("chat") or {}).get("history") or {}).get("messages", {}).get(
                    message_id
                ) or {}
                if message.get("done") or message.get("error"):
                    return chat, message
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"chat {chat_id} message {message_id} not done after {time_limit} s"
                )
            await asyncio.sleep(0.05)
