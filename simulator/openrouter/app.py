"""The fake OpenRouter as a Starlette app: `/api/v1/responses`, the models catalog, and the
`/_sim/*` control routes (queue, journal, reset).

Answer precedence for `POST /api/v1/responses`: the response queue, then the cassette player
(if one was given), then a deterministic echo answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from simulator.cassettes.played import PlayedChunk, PlayedResponse
from simulator.openrouter import answers, chat, default_answer, failure, loadgen, synth
from simulator.openrouter.account import account_routes, generation_stats, rate_limit_headers
from simulator.openrouter.capabilities import payload_too_large
from simulator.openrouter.catalog import PROVIDER_BY_AUTHOR, Catalog
from simulator.openrouter.errors import SimHTTPError, generic_envelope, model_not_found
from simulator.openrouter.faults import PRE_RESPONSE, Fault, FaultSyntaxError, parse_faults
from simulator.openrouter.features import decide, validate_features
from simulator.openrouter.physics import parse_physics
from simulator.openrouter.state import QueueSpec, SimConfig, SimState
from simulator.openrouter.streaming import cut_after_events, fault_error, render_stream
from simulator.openrouter.validation import (
    last_user_text,
    parse_json_body,
    validate_request,
)

FAULT_HEADER = "x-sim-fault"
PHYSICS_HEADER = "x-sim-physics"
DROPPED_PLAYED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


class Player(Protocol):
    async def play(
        self, method: str, path: str, headers: dict[str, str], body: dict | None
    ) -> PlayedResponse: ...


def _check_auth(config: SimConfig, headers: dict[str, str]) -> None:
    auth = headers.get("authorization", "")
    scheme, _, key = auth.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise SimHTTPError(401, "Missing Authentication header")
    key = key.strip()
    ok = key in config.api_keys if config.api_keys is not None else key.startswith("sk-or-")
    if not ok:
        raise SimHTTPError(401, "User not found.")


async def _timed(chunks: list[PlayedChunk]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        if chunk.delay > 0:
            await asyncio.sleep(chunk.delay)
        yield chunk.data


def _stream(
    chunks: list[PlayedChunk], headers: dict[str, str], status: int = 200
) -> StreamingResponse:
    return StreamingResponse(
        _timed(chunks),
        status_code=status,
        headers={"Cache-Control": "no-cache", **headers},
        media_type="text/event-stream",
    )


async def read_recorded(
    state: SimState, request: Request
) -> tuple[dict[str, str], Any, dict[str, Any]]:
    """Headers and JSON body of an inference request, journaled (the raw text when it is not
    JSON, then the SimHTTPError that answers it)."""
    received = time.monotonic()
    raw = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    path, query = request.url.path, request.url.query
    limit = state.config.max_body_bytes
    if len(raw) > limit:
        state.record("POST", path, query, headers, f"<{len(raw)} bytes, not kept>", received)
        raise payload_too_large(len(raw), limit)
    try:
        body: Any = parse_json_body(raw)
    except SimHTTPError:
        state.record("POST", path, query, headers, _text(raw), received)
        raise
    entry = state.record("POST", path, query, headers, body, received)
    return headers, body, entry


class ResponsesHandler:
    """`POST /api/v1/responses`: journal, auth, validation, faults, then the answer."""

    def __init__(self, state: SimState, catalog: Catalog, player: Player | None) -> None:
        self.state = state
        self.catalog = catalog
        self.player = player

    async def handle(self, request: Request) -> Response:
        try:
            headers, body, entry = await read_recorded(self.state, request)
            return await self._answer(request.url.path, headers, body, entry)
        except SimHTTPError as exc:
            if exc.status == 429:
                retry = float(exc.headers.get("Retry-After") or 1)
                for k, v in rate_limit_headers(self.state, retry).items():
                    exc.headers.setdefault(k, v)
            return exc.response()

    async def _answer(
        self, path: str, headers: dict[str, str], body: dict, entry: dict[str, Any]
    ) -> Response:
        config = self.state.config
        _check_auth(config, headers)
        chat.check_responses_allowed(config.responses_refused_models, body)
        chat.check_reasoning_allowed(config.reasoning_rejected_models, body)
        req = validate_request(body)
        validate_features(body)
        model = self.catalog.resolve(req.model)
        if config.check_models:
            for slug in [req.model, *(req.models or [])]:
                if self.catalog.resolve(slug) is None:
                    raise model_not_found(slug)
        nxt = next(iter(self.state.pending()), None)  # what routing needs from the next answer
        decision = decide(
            req,
            body,
            self.catalog,
            set(config.down_models) | set(nxt.down_models if nxt else []),
            self.state.prompt_cache,
            nxt.context_length if nxt else None,
        )
        entry["routing"] = decision.routing
        header_faults = _header_faults(headers)
        spec, owed = self.state.take()
        faults = list(config.faults) + header_faults + (spec.fault if spec else [])
        for f in faults:
            if f.kind == "latency":
                await asyncio.sleep(f.seconds if f.seconds is not None else 1.0)
        if owed is not None:
            raise answers.fault_error(owed)
        self._fire_counted_faults(config.faults, "config")
        self._fire_counted_faults(header_faults, "header:" + headers.get(FAULT_HEADER, ""))
        if spec is not None:
            for f in spec.fault:  # count-less pre-response faults on a spec fire every time
                if f.kind in PRE_RESPONSE and f.count is None:
                    raise answers.fault_error(f)
        physics = config.physics.merged(spec.physics_overrides() if spec else None)
        if PHYSICS_HEADER in headers:
            try:
                physics = physics.merged(parse_physics(headers[PHYSICS_HEADER]))
            except ValueError as exc:
                raise SimHTTPError(400, f"X-Sim-Physics: {exc}") from exc
        keepalives = spec.keepalives if spec and spec.keepalives is not None else config.keepalives

        if spec is not None and spec.status is not None:
            status, reply, extra = answers.status_reply(spec)
            if status == 429:
                extra = {**rate_limit_headers(self.state, float(extra["Retry-After"])), **extra}
            if isinstance(reply, str):  # a raw body, e.g. a proxy's HTML page with status 200
                media = {k.lower(): v for k, v in extra.items()}.pop("content-type", "text/plain")
                extra = {k: v for k, v in extra.items() if k.lower() != "content-type"}
                return Response(reply, status_code=status, headers=extra, media_type=media)
            return JSONResponse(reply, status_code=status, headers=extra)
        if spec is not None:
            events = answers.spec_events(spec, req, faults, model, config.seed, decision)
            extra_headers = dict(spec.headers)
        elif self.player is not None:
            return await self._play(path, headers, body, faults)
        elif req.stream and (load := loadgen.parse_marker(last_user_text(req))) is not None:
            chunks = loadgen.load_chunks(load, req.model, physics)
            return StreamingResponse(
                loadgen.stamped(chunks),
                headers={"Cache-Control": "no-cache", "X-Generation-Id": f"gen-load-{load.nonce}"},
                media_type="text/event-stream",
            )
        else:
            script = default_answer.default_script(req, model, config.seed)
            script = answers.apply_script_faults(script, faults)
            events = answers.script_events(answers.decided(script, decision, req), req)
            extra_headers = {}
        rid = _response_id(events)
        gen_id = synth.generation_id(rid)
        out_headers = {"X-Generation-Id": gen_id, **extra_headers}
        final = _final_of(events, faults)
        if final is not None:
            provider = PROVIDER_BY_AUTHOR.get(default_answer.author_of(req.model), ("Sim",))[0]
            stats = generation_stats(gen_id, final, streamed=req.stream, provider=provider)
            self.state.add_generation(gen_id, stats)
        if not req.stream:
            return _json_answer(events, faults, out_headers)
        chunks = render_stream(events, physics, faults, keepalives=keepalives)
        return _stream(chunks, out_headers)

    def _fire_counted_faults(self, faults: list[Fault], key: str) -> None:
        for n, f in enumerate(faults):
            if f.kind in PRE_RESPONSE and self.state.fault_fires(f"{key}#{n}", f):
                raise answers.fault_error(f)

    async def _play(
        self, path: str, headers: dict[str, str], body: dict, faults: list[Fault]
    ) -> Response:
        assert self.player is not None
        try:
            played = await self.player.play("POST", path, headers, body)
        except LookupError as exc:
            raise SimHTTPError(
                400,
                f"simulator: no cassette interaction matches this request: {exc}",
                headers={"X-Sim-No-Match": "1"},
            ) from exc
        chunks = list(played.chunks)
        for f in faults:
            if f.kind == "disconnect":
                chunks = cut_after_events(chunks, f.after_or(3))
        out_headers = {k: v for k, v in played.headers if k.lower() not in DROPPED_PLAYED_HEADERS}
        media = next((v for k, v in played.headers if k.lower() == "content-type"), None)
        if len(chunks) == 1 and chunks[0].delay == 0:
            # One buffered body (a JSON answer or error): headers and body in one write,
            # which avoids a delayed-ACK stall of tens of milliseconds per replay.
            return Response(
                chunks[0].data, status_code=played.status, headers=out_headers, media_type=media
            )
        return StreamingResponse(
            _timed(chunks), status_code=played.status, headers=out_headers, media_type=media
        )


IN_BAND_FAULTS = ("error_event", "nested_error", "failed")


def _final_of(events: list[dict[str, Any]], faults: list[Fault]) -> dict[str, Any] | None:
    """The response object a client ends up with: the failed one when an in-band fault fires
    mid-generation (with the output and usage so far), else the terminal one."""
    for f in faults:
        if f.kind in IN_BAND_FAULTS:
            return failure.failed_response(
                events, min(f.after_or(2), len(events)), **fault_error(f)
            )
    try:
        return answers.final_response(events)
    except SimHTTPError:
        return None


class ChatHandler:
    """`POST /api/v1/chat/completions` (simulator/openrouter/chat.py): journal, auth, the
    staged reasoning refusal, then a queued script or an echo, in OpenRouter's chat format."""

    def __init__(self, state: SimState, catalog: Catalog) -> None:
        self.state = state
        self.catalog = catalog

    async def handle(self, request: Request) -> Response:
        try:
            headers, body, _entry = await read_recorded(self.state, request)
            config = self.state.config
            _check_auth(config, headers)
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                raise SimHTTPError(400, "messages: a list of messages is required")
            model = str(body.get("model") or "")
            if config.check_models and self.catalog.resolve(model) is None:
                raise model_not_found(model)
            chat.check_reasoning_allowed(config.reasoning_rejected_models, body)
        except SimHTTPError as exc:
            return exc.response()
        spec, _ = self.state.take()
        if spec is not None and spec.status is not None:
            status, reply, extra = answers.status_reply(spec)
            return JSONResponse(reply, status_code=status, headers=extra)
        script = spec.script if spec is not None and spec.script else chat.echo_script(body)
        if not body.get("stream"):
            return JSONResponse(chat.completion(script))
        frames = [PlayedChunk(0.0, frame) for frame in chat.sse(chat.chunks(script))]
        return _stream(frames, {})


def _json_answer(
    events: list[dict[str, Any]], faults: list[Fault], headers: dict[str, str]
) -> Response:
    """Non-streaming: a mid-generation failure is HTTP 200 with `status: "failed"` (as
    OpenRouter answers); a disconnect sends half the JSON and stops."""
    body = _final_of(events, faults)
    if body is None:
        body = answers.final_response(events)  # raises the simulator's own 500
    data = json.dumps(body, ensure_ascii=False).encode()
    if any(f.kind == "disconnect" for f in faults):
        half = [PlayedChunk(0.0, data[: len(data) // 2])]
        return StreamingResponse(_timed(half), headers=headers, media_type="application/json")
    return Response(data, headers=headers, media_type="application/json")


def _response_id(events: list[dict[str, Any]]) -> str:
    for e in events:
        resp = e.get("response")
        if isinstance(resp, dict) and resp.get("id"):
            return str(resp["id"])
    return "resp_unknown"


def _header_faults(headers: dict[str, str]) -> list[Fault]:
    text = headers.get(FAULT_HEADER)
    if not text:
        return []
    try:
        return parse_faults(text)
    except FaultSyntaxError as exc:
        raise SimHTTPError(400, f"X-Sim-Fault: {exc}") from exc


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


# ---------------------------------------------------------------- catalog routes


def _catalog_routes(state: SimState, catalog: Catalog) -> list[Route]:
    def record(request: Request) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        state.record(request.method, request.url.path, request.url.query, headers, None)

    async def models(request: Request) -> Response:
        record(request)
        data = catalog.filter(dict(request.query_params))
        total = len(data)
        try:
            offset = _int_param(request, "offset", 0) or 0
            limit = _int_param(request, "limit", None)
        except SimHTTPError as exc:
            return exc.response()
        nxt = None
        if limit is not None or offset:
            limit = min(limit or 500, 1000)
            if offset + limit < total:
                nxt = str(request.url.include_query_params(offset=offset + limit))
            data = data[offset : offset + limit]
        return JSONResponse({"data": data, "total_count": total, "links": {"next": nxt}})

    async def count(request: Request) -> Response:
        record(request)
        return JSONResponse({"data": {"count": len(catalog.filter(dict(request.query_params)))}})

    def lookup(request: Request) -> dict[str, Any]:
        slug = f"{request.path_params['author']}/{request.path_params['slug']}"
        model = catalog.resolve(slug)
        if model is None:
            raise SimHTTPError(404, f"Model {slug} not found", error_type="not_found")
        return model

    async def endpoints(request: Request) -> Response:
        record(request)
        try:
            return JSONResponse(catalog.endpoints(lookup(request)))
        except SimHTTPError as exc:
            return exc.response()

    async def one_model(request: Request) -> Response:
        record(request)
        try:
            return JSONResponse({"data": lookup(request)})
        except SimHTTPError as exc:
            return exc.response()

    return [
        Route("/api/v1/models", models, methods=["GET"]),
        Route("/api/v1/models/count", count, methods=["GET"]),
        Route("/api/v1/models/{author}/{slug}/endpoints", endpoints, methods=["GET"]),
        Route("/api/v1/model/{author}/{slug}", one_model, methods=["GET"]),
    ]


def _int_param(request: Request, name: str, default: int | None) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return max(0, int(value))
    except ValueError as exc:
        raise SimHTTPError(400, f"Query parameter {name!r} must be an integer") from exc


# ---------------------------------------------------------------- control routes


def _control_routes(state: SimState, player: Player | None) -> list[Route]:
    async def requests(request: Request) -> Response:
        """The journal; `?bodies=0` leaves the bodies out (a benchmark reading timings)."""
        entries = state.journal()
        if request.query_params.get("bodies") == "0":
            entries = [{k: v for k, v in e.items() if k != "body"} for e in entries]
        return JSONResponse(entries)

    async def reset(_: Request) -> Response:
        state.reset()
        if callable(getattr(player, "reset", None)):
            player.reset()  # type: ignore[union-attr]  # replay cassettes from the start
        return JSONResponse({"ok": True})

    async def queue(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse([s.model_dump(exclude_defaults=True) for s in state.pending()])
        try:
            specs = json.loads(await request.body())
        except ValueError as exc:
            return _sim_error(f"queue body is not JSON: {exc}")
        if isinstance(specs, dict):
            specs = [specs]
        if not isinstance(specs, list):
            return _sim_error("queue body must be a JSON list of response specs")
        try:
            parsed = [QueueSpec.model_validate(s) for s in specs]
        except (ValidationError, FaultSyntaxError) as exc:
            return _sim_error(f"invalid response spec: {exc}")
        pending = state.enqueue(*parsed)
        return JSONResponse({"queued": len(parsed), "pending": pending})

    return [
        Route("/_sim/requests", requests, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/queue", queue, methods=["GET", "POST"]),
    ]


async def _json_http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes and methods answer in OpenRouter's JSON envelope, never plain text."""
    status = int(getattr(exc, "status_code", 404))
    message = "Not Found" if status == 404 else "Method Not Allowed"
    return JSONResponse(
        generic_envelope(status, f"{message}: {request.method} {request.url.path}"),
        status_code=status,
    )


def _sim_error(message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": 422, "message": message}}, status_code=422)


class CountOpenAnswers:
    """ASGI middleware: `state.open_answers` is how many inference answers are being sent
    (the ASGI call of a streamed answer lasts until its last byte or the client's going)."""

    def __init__(self, app: Any, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(INFERENCE_PATHS):
            await self.app(scope, receive, send)
            return
        self.state.answer_opened()
        try:
            await self.app(scope, receive, send)
        finally:
            self.state.answer_closed()


INFERENCE_PATHS = ("/responses", "/chat/completions")


def create_app(
    config: SimConfig | None = None, *, player: Player | None = None, state: SimState | None = None
) -> Starlette:
    """Build the ASGI app. `app.state.sim` is the `SimState` (queue, journal, config)."""
    state = state or SimState(config)
    catalog = Catalog.load(state.config.catalog_path)
    handler = ResponsesHandler(state, catalog, player)
    routes = [
        Route("/api/v1/responses", handler.handle, methods=["POST"]),
        Route("/api/v1/chat/completions", ChatHandler(state, catalog).handle, methods=["POST"]),
        *_catalog_routes(state, catalog),
        *account_routes(state, _check_auth),
        *_control_routes(state, player),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: _json_http_error, 405: _json_http_error},
        middleware=[Middleware(CountOpenAnswers, state=state)],
    )
    app.state.sim = state
    app.state.catalog = catalog
    return app
