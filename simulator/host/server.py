"""`orsim serve-host`: the fake Open WebUI over HTTP, in one or several worker processes.

Each worker process loads the function files itself, so each has its own Pipe instance, as
Open WebUI workers do. Valves live in a shared JSON file (Open WebUI keeps them in its
database), re-read whenever it changes, so an update through one worker reaches all.
Every response carries `X-Orsim-Worker-Pid`; `GET /api/host/worker` tells pid and instances.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from simulator.host.access import ModelAccess, ModelEntry, normalize_grants
from simulator.host.call import HostUser
from simulator.host.events_hub import EventHub
from simulator.host.form import FormError, parse_form
from simulator.host.host import FakeHost, ModelNotFoundError
from simulator.host.jsoncodec import response_bytes
from simulator.host.task_prompts import DISABLED_BY_DEFAULT
from simulator.host.tasks import TASK_ENDPOINTS, task_body

CONFIG_ENV = "ORSIM_HOST_CONFIG"
DEFAULT_TOKEN = "sk-orsim-admin"


@dataclass
class FunctionSpec:
    path: str
    function_id: str | None = None
    name: str | None = None


@dataclass
class HostConfig:
    """Everything a worker needs; travels to worker processes as JSON in an env var."""

    functions: list[FunctionSpec] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> HostUser fields
    valves_path: str = ""
    initial_valves: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Set in every worker before the functions load (REDIS_URL, DATABASE_URL, like Open WebUI's).
    environment: dict[str, str] = field(default_factory=dict)
    # Model access (simulator/host/access.py); None: from the environment, as Open WebUI reads it.
    bypass_model_access_control: bool | None = None
    bypass_admin_access_control: bool | None = None
    groups: dict[str, list[str]] = field(default_factory=dict)  # user id -> group ids

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> HostConfig:
        raw = json.loads(text)
        raw["functions"] = [FunctionSpec(**f) for f in raw.get("functions", [])]
        return cls(**raw)


def parse_user(spec: str) -> tuple[str, dict[str, Any]]:
    """`TOKEN=id:role[:email[:name]]` -> (token, HostUser fields)."""
    token, sep, rest = spec.partition("=")
    parts = rest.split(":")
    if (
        not sep
        or not token
        or len(parts) < 2
        or not parts[0]
        or parts[1]
        not in (
            "admin",
            "user",
            "pending",
        )
    ):
        raise ValueError(f"--user must look like TOKEN=id:role[:email[:name]] (got {spec!r})")
    uid, role = parts[0], parts[1]
    email = parts[2] if len(parts) > 2 and parts[2] else f"{uid}@example.com"
    name = parts[3] if len(parts) > 3 and parts[3] else uid
    return token, {"id": uid, "role": role, "email": email, "name": name}


class ValveStore:
    """Valves shared by all workers: `{"functions": {fid: {...}}, "users": {fid: {uid: {...}}}}`."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._mtime: float | None = None

    def read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"functions": {}, "users": {}, "models": {}}

    def sync(self, host: FakeHost, access: ModelAccess | None = None) -> None:
        """Re-apply stored valves and model entries when the file changed (the DB read Open
        WebUI does per call)."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self._mtime:
            return
        data = self.read()
        for fid, fn in host.functions.items():
            fn.valves = dict(data.get("functions", {}).get(fid, {}))
            fn.user_valves = {u: dict(v) for u, v in data.get("users", {}).get(fid, {}).items()}
        if access is not None:
            access.entries = {
                mid: ModelEntry(mid, row["owner"], row.get("grants", []))
                for mid, row in data.get("models", {}).items()
            }
        self._mtime = mtime

    def write(self, fid: str, values: dict, user_id: str | None = None) -> None:
        data = self.read()
        if user_id is None:
            data.setdefault("functions", {})[fid] = values
        else:
            data.setdefault("users", {}).setdefault(fid, {})[user_id] = values
        self._save(data)

    def write_model(self, entry: ModelEntry) -> None:
        data = self.read()
        data.setdefault("models", {})[entry.id] = {"owner": entry.owner, "grants": entry.grants}
        self._save(data)

    def _save(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.path)


class WorkerPidHeader:
    """ASGI middleware: every response names the worker process that served it."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        pid = str(os.getpid()).encode()

        async def send_with_pid(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-orsim-worker-pid", pid)]
            await send(message)

        await self.app(scope, receive, send_with_pid)


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def create_app(config: HostConfig) -> Starlette:
    host = FakeHost()
    hub = host.event_hub = EventHub()
    for spec in config.functions:
        host.add_function(spec.path, function_id=spec.function_id, name=spec.name)
    store = ValveStore(config.valves_path or tempfile.mktemp(suffix=".valves.json"))
    access = ModelAccess.from_env(groups=dict(config.groups))
    if config.bypass_model_access_control is not None:
        access.bypass_model_access_control = config.bypass_model_access_control
    if config.bypass_admin_access_control is not None:
        access.bypass_admin_access_control = config.bypass_admin_access_control
    users = {token: HostUser(**fields) for token, fields in config.users.items()}
    if not users:
        users = {
            DEFAULT_TOKEN: HostUser(
                id="admin", role="admin", email="admin@example.com", name="Admin"
            )
        }

    def authed(request: Request) -> HostUser | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        return users.get(token) if scheme.lower() == "bearer" else None

    async def body_of(request: Request) -> dict[str, Any]:
        return parse_form(await request.body())

    async def health(request: Request) -> Response:
        return JSONResponse({"status": True})

    async def events(request: Request) -> Response:
        """The user's emitter events as server-sent events (see events_hub.py)."""
        user = authed(request)
        if user is None:
            return _error(401, "Not authenticated")
        return StreamingResponse(
            hub.stream(user.id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    async def worker(request: Request) -> Response:
        return JSONResponse(
            {
                "pid": os.getpid(),
                "instances": {fid: f"{id(fn.instance):x}" for fid, fn in host.functions.items()},
            }
        )

    async def models(request: Request) -> Response:
        user = authed(request)
        if user is None:
            return _error(401, "Not authenticated")
        store.sync(host, access)
        return JSONResponse({"data": access.visible(await host.models(), user.id, user.role)})

    async def create_model(request: Request) -> Response:
        """`POST /api/v1/models/create`: a workspace entry (owner + access grants) for a model."""
        user = authed(request)
        if user is None:
            return _error(401, "Not authenticated")
        if user.role != "admin":
            return _error(401, "You do not have permission to access this resource.")
        try:
            form = await body_of(request)
        except ValueError as exc:
            return _error(400, str(exc))
        model_id = form.get("id")
        if not isinstance(model_id, str) or not model_id.strip() or " " in model_id:
            return _error(422, "id: a model id without spaces is required")
        entry = ModelEntry(model_id, user.id, normalize_grants(form.get("access_grants")))
        store.write_model(entry)
        store.sync(host, access)
        return JSONResponse(
            {
                "id": entry.id,
                "user_id": entry.owner,
                "name": form.get("name") or entry.id,
                "access_grants": entry.grants,
            }
        )

    async def chat(request: Request) -> Response:
        user = authed(request)
        if user is None:
            return _error(401, "Not authenticated")
        try:
            form = await body_of(request)
            if form.get("model") is None:  # the in-process API's "the only model" is not HTTP's
                raise ModelNotFoundError("Model not found")
            store.sync(host, access)
            model_id = form.get("model")
            if isinstance(model_id, str) and not access.may_use(model_id, user.id, user.role):
                raise ModelNotFoundError("Model not found")
            prepared = await host.prepare(form, user=user, headers=dict(request.headers))
        except FormError as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        except ModelNotFoundError as exc:
            return _error(400, str(exc) if str(exc) == "Model not found" else "Model not found")
        except Exception as exc:  # Open WebUI: any error preparing the chat is a 400 with its text
            return _error(400, str(exc))
        if prepared.stream:
            return StreamingResponse(host.stream(prepared), media_type="text/event-stream")
        status, payload = await host.answer(prepared)
        if isinstance(payload, StreamingResponse):
            return payload
        return Response(response_bytes(payload), status_code=status, media_type="application/json")

    async def task(request: Request) -> Response:
        user = authed(request)
        if user is None:
            return _error(401, "Not authenticated")
        endpoint = request.path_params["task"]
        if endpoint not in TASK_ENDPOINTS:
            return _error(404, "Not Found")
        try:
            form = await body_of(request)
            store.sync(host, access)
            model = (await host.resolve_model(form.get("model")))["id"]
        except FormError as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        except ModelNotFoundError:
            return _error(404, "Model not found")
        except ValueError as exc:
            return _error(400, str(exc))
        if endpoint in DISABLED_BY_DEFAULT:
            return _error(400, f"{DISABLED_BY_DEFAULT[endpoint]} is disabled")
        if not access.may_use(model, user.id, user.role):
            # The task route's chat call raises "Model not found"; the route hides it.
            return _error(400, "An internal error has occurred.")
        messages = form.get("messages") or []
        meta = {
            "task": TASK_ENDPOINTS[endpoint][0],
            "task_body": form,
            "chat_id": form.get("chat_id"),
        }
        body = task_body(
            endpoint,
            model,
            messages,
            form=form,
            user=user.model_dump(),
            model_info=host.models_cache.get(model),
        )
        prepared = await host.prepare_task(body, meta, user)
        status, payload = await host.answer(prepared)
        if isinstance(payload, StreamingResponse):
            return payload
        return Response(response_bytes(payload), status_code=status, media_type="application/json")

    def function_or_404(request: Request):
        fid = request.path_params["fid"]
        return host.functions.get(fid)

    async def valves_get(request: Request) -> Response:
        user = authed(request)
        fn = function_or_404(request)
        if user is None or fn is None:
            return _error(
                401 if user is None else 404, "Not authenticated" if user is None else "Not Found"
            )
        store.sync(host, access)
        if request.path_params.get("scope") == "user":
            return JSONResponse(fn.user_valves.get(user.id, {}))
        return JSONResponse(fn.valves)

    async def valves_spec(request: Request) -> Response:
        fn = function_or_404(request)
        if authed(request) is None or fn is None:
            return _error(404, "Not Found")
        cls_name = "UserValves" if request.path_params.get("scope") == "user" else "Valves"
        cls = getattr(fn.instance, cls_name, None)
        return JSONResponse(cls.model_json_schema() if cls is not None else None)

    async def valves_update(request: Request) -> Response:
        user = authed(request)
        fn = function_or_404(request)
        if user is None or fn is None:
            return _error(
                401 if user is None else 404, "Not authenticated" if user is None else "Not Found"
            )
        scope_user = request.path_params.get("scope") == "user"
        if not scope_user and user.role != "admin":
            return _error(401, "You do not have permission to access this resource.")
        try:
            values = await body_of(request)
            stored = fn.set_user_valves(user.id, values) if scope_user else fn.set_valves(values)
        except Exception as exc:  # pydantic validation errors included
            return _error(400, str(exc))
        store.write(fn.id, stored, user.id if scope_user else None)
        return JSONResponse(stored)

    routes = [
        Route("/health", health),
        Route("/api/host/worker", worker),
        Route("/api/host/events", events),
        Route("/api/models", models),
        Route("/api/v1/models/create", create_model, methods=["POST"]),
        Route("/api/chat/completions", chat, methods=["POST"]),
        Route("/api/v1/chat/completions", chat, methods=["POST"]),
        Route("/api/v1/tasks/{task}/completions", task, methods=["POST"]),
        Route("/api/v1/functions/id/{fid}/valves", valves_get),
        Route("/api/v1/functions/id/{fid}/valves/spec", valves_spec),
        Route("/api/v1/functions/id/{fid}/valves/update", valves_update, methods=["POST"]),
        Route("/api/v1/functions/id/{fid}/valves/{scope:str}", valves_get),
        Route("/api/v1/functions/id/{fid}/valves/{scope:str}/spec", valves_spec),
        Route(
            "/api/v1/functions/id/{fid}/valves/{scope:str}/update", valves_update, methods=["POST"]
        ),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await host.aclose()  # the functions' sessions, on the loop that opened them

    app = Starlette(routes=routes, middleware=[Middleware(WorkerPidHeader)], lifespan=lifespan)
    app.state.host = host
    return app


def app_from_env() -> Starlette:
    """The uvicorn factory each worker process calls."""
    return create_app(HostConfig.from_json(os.environ[CONFIG_ENV]))


def prepare_config(config: HostConfig) -> HostConfig:
    """Validate function files in the parent (clear errors before forking) and seed valves."""
    if not config.valves_path:
        handle, config.valves_path = tempfile.mkstemp(prefix="orsim-host-", suffix=".valves.json")
        os.close(handle)
        Path(config.valves_path).write_text(json.dumps({"functions": {}, "users": {}}))
    probe = FakeHost()
    store = ValveStore(config.valves_path)
    for spec in config.functions:
        fn = probe.add_function(spec.path, function_id=spec.function_id, name=spec.name)
        spec.function_id = fn.id
        if fn.id in config.initial_valves:
            store.write(fn.id, fn.set_valves(config.initial_valves[fn.id]))
    return config


def serve(config: HostConfig, host: str = "127.0.0.1", port: int = 0, workers: int = 1) -> None:
    """Bind first (port 0 = a free port, printed), then run one or K uvicorn workers."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from simulator.net import bind_tcp

    os.environ.update(config.environment)  # inherited by every worker process
    config = prepare_config(config)
    os.environ[CONFIG_ENV] = config.to_json()
    sock = bind_tcp(host, port, inheritable=True)
    bound = sock.getsockname()[1]
    print(f"orsim host listening on http://{host}:{bound} workers={workers}", flush=True)
    uconfig = uvicorn.Config(
        "simulator.host.server:app_from_env",
        factory=True,
        host=host,
        port=bound,
        workers=workers,
        log_level="warning",
        # Like Open WebUI, a stopping worker does not close the functions: their queued
        # writes stay in Redis for the other workers, and shutdown never waits on a dead one.
        lifespan="off",
    )
    server = uvicorn.Server(uconfig)
    if workers > 1:
        Multiprocess(uconfig, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])
    sys.stdout.flush()
