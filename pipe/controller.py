"""The Open WebUI entry point: `Pipe` with its `Valves` / `UserValves`, `pipes()` and `pipe()`.

Open WebUI finds the valve classes by parsing this class body, so they stay nested literally.
The Pipe instance is shared by every concurrent request of a worker: it keeps only the valves
and an optional test transport; per-request state lives in a `ChatRun`.
"""

from __future__ import annotations

import functools
from typing import Any

import httpx
from pydantic import Field, field_validator

from .errors import ErrorKind, PipeError, SupportContacts
from .fallback import FallbackClient, FallbackPolicy
from .feature_valves import FeatureUserValves
from .fleet import Fleet, resolve_redis_url, settings_fingerprint
from .guards import GuardPolicy, RequestGuard
from .history import load_replay
from .holds import UpstreamGate, key_id
from .intake import add_features, take_media
from .leases import BudgetedAdmission
from .logs import RequestContext, get_logger, new_request_id, request_scope
from .model_info import CatalogSnapshot, ModelInfo, sub_id_to_slug
from .model_sync import CatalogPublisher
from .operations import RequestRecords
from .orchestrator import ChatRun, Emitter, RunPolicy
from .owui import file_store, function_id_of
from .persist import PersistPolicy, TurnRecorder
from .runtime import get_runtime
from .secret_valve import SealError, seal, unseal
from .settings import default_base_url, merge_valves, resolve_api_key
from .storage.vault import ArtifactVault, VaultUnavailable
from .storage.writebehind import WriteBehindPolicy
from .stream import status_event
from .toolloop import ToolSession
from .tools import ToolExecutor, ToolPolicy, ToolRegistry
from .translate import Identity, TranslateOptions, TranslationError, build_request
from .upstream import ResponsesClient, UpstreamConfig, attribution_headers, catalog_timeout
from .valve_checks import BaseUrlValve
from .valves import RequestValves, SummaryMode
from .wire import Effort, FunctionTool, ResponsesRequest, json_object

UNREACHABLE = (ErrorKind.CONNECT_TIMEOUT, ErrorKind.READ_TIMEOUT, ErrorKind.CONNECTION)


def _open_vault(
    valves: Any, runtime: Any, write_behind: tuple[Fleet, WriteBehindPolicy] | None
) -> ArtifactVault:
    """The request's artifact store, opened (or reused) when history is first needed."""
    try:
        url, key, previous = (
            unseal(getattr(valves, name), name=name)
            for name in (
                "ARTIFACT_DATABASE_URL",
                "ARTIFACT_ENCRYPTION_KEY",
                "ARTIFACT_PREVIOUS_KEYS",
            )
        )
    except SealError as exc:
        get_logger().error("%s", exc)
        raise VaultUnavailable("a history setting cannot be decrypted") from exc
    return runtime.vault(  # type: ignore[no-any-return]
        url, key, previous, write_behind, memory_mb=valves.ARTIFACT_MEMORY_CACHE_MB
    )


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _key_or_empty(api_key_valve: str) -> str:
    try:
        return resolve_api_key(api_key_valve)
    except SealError:
        return ""


def _known_keys(api_key_valve: str) -> tuple[str, ...]:
    """The request's API key in every form it may appear in, for redaction."""
    key = _key_or_empty(api_key_valve)
    return tuple(k for k in {key, api_key_valve.strip()} if k)


class Pipe:
    class Valves(RequestValves):
        BASE_URL: BaseUrlValve = Field(
            default_factory=default_base_url,
            description="OpenRouter API base URL (env OPENROUTER_API_BASE_URL).",
        )
        API_KEY: str = Field(
            default="",
            description="OpenRouter API key; empty means the OPENROUTER_API_KEY environment variable. Stored encrypted (keyed from WEBUI_SECRET_KEY).",
            json_schema_extra={"input": {"type": "password"}},
        )

        @field_validator("API_KEY")
        @classmethod
        def _seal_api_key(cls, value: str) -> str:
            """Open WebUI stores what validation returns: a typed key is stored sealed."""
            return seal(value)

    class UserValves(FeatureUserValves):
        REASONING_EFFORT: Effort | None = Field(
            default=None, description="Your reasoning effort (empty: the administrator's default)."
        )
        REASONING_SUMMARY_MODE: SummaryMode | None = Field(
            default=None, description="Your reasoning summary mode (empty: default)."
        )
        SHOW_PROGRESS_STATUS: bool | None = Field(
            default=None, description="Show thinking/searching status (empty: default)."
        )
        SHOW_FINAL_USAGE_STATUS: bool | None = Field(
            default=None, description="Show the final usage line (empty: default)."
        )
        PERSIST_TOOL_RESULTS: bool | None = Field(
            default=None,
            description="Keep your tool results for later turns (empty: the administrator's default).",
        )

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.valves = self.Valves()
        self.name = "OpenRouter: "
        self._transport = transport  # tests swap the upstream here; Open WebUI passes nothing
        self._publisher = CatalogPublisher()  # the catalog into Open WebUI's model records

    # ------------------------------------------------------------------ shared resources

    async def _catalog_snapshot(self, valves: Any) -> CatalogSnapshot:
        """The catalog with this request's headers and timeouts (a valve change applies now)."""
        key = resolve_api_key(valves.API_KEY)  # SealError: the caller's to report
        headers = attribution_headers(valves.HTTP_REFERER, valves.APP_TITLE)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        catalog = get_runtime(self._transport).catalog(valves.BASE_URL, key)
        timeout = catalog_timeout(valves.CONNECT_TIMEOUT_SECONDS, valves.READ_TIMEOUT_SECONDS)
        return await catalog.get(
            valves.MODEL_CATALOG_REFRESH_SECONDS,
            headers,
            timeout,
            fleet=self._fleet().cache,
            fingerprint=settings_fingerprint(self.valves),
        )

    @staticmethod
    def _gate(valves: Any, fleet: Fleet) -> UpstreamGate | None:
        """Cool-down windows for this key: shared by the workers when Redis is on."""
        try:
            key = resolve_api_key(valves.API_KEY)
        except SealError:
            return None
        if not key:
            return None
        return UpstreamGate(
            fleet.holds, key_id(f"{valves.BASE_URL}|{key}"), valves.AUTH_FAILURE_COOLDOWN_SECONDS
        )

    def _write_behind(self) -> tuple[Fleet, WriteBehindPolicy] | None:
        """Where the artifact store queues its writes (None: straight to the database)."""
        valves = self.valves
        fleet = self._fleet()
        if not valves.WRITE_BEHIND_ENABLED or fleet.link is None:
            return None
        policy = WriteBehindPolicy(
            batch_size=valves.WRITE_BEHIND_BATCH_SIZE,
            claim_seconds=valves.WRITE_BEHIND_CLAIM_SECONDS,
            cache_seconds=valves.WRITE_BEHIND_CACHE_SECONDS,
            warn_depth=valves.WRITE_BEHIND_WARN_DEPTH,
            failure_limit=valves.WRITE_BEHIND_FAILURE_LIMIT,
        )
        return fleet, policy

    def _fleet(self) -> Fleet:
        valves = self.valves  # Redis settings are the administrator's, never a user's
        try:
            url = resolve_redis_url(
                unseal(valves.REDIS_URL, name="REDIS_URL"), valves.REDIS_ENABLED
            )
        except SealError as exc:
            get_logger().error("%s; Redis sharing is off until then", exc)
            url = ""
        return get_runtime(self._transport).fleet(url)

    async def _snapshot(self, valves: Any, *, strict: bool = False) -> CatalogSnapshot | None:
        """None when the catalog cannot be had. `strict`: a catalog that cannot be REACHED
        (timeouts, connection) raises, so a chat fails fast with a clear message instead of
        also waiting for `/responses` on the same dead address."""
        try:
            return await self._catalog_snapshot(valves)
        except SealError as exc:
            get_logger().error("%s", exc)
            return None
        except PipeError as exc:
            if strict and exc.kind in UNREACHABLE:
                raise PipeError(
                    exc.kind, f"OpenRouter's model list could not be loaded: {exc.message}"
                ) from exc
            return None

    @staticmethod
    def _allowed(model: ModelInfo, valves: Any) -> bool:
        allow = [m.strip() for m in valves.MODEL_ID.split(",") if m.strip()]
        if allow and allow != ["auto"] and model.slug not in allow and model.sub_id not in allow:
            return False
        for flag, mode in (
            (model.free, valves.FREE_MODEL_FILTER),
            (model.tools, valves.TOOL_CALLING_FILTER),
        ):
            if (mode == "only" and not flag) or (mode == "exclude" and flag):
                return False
        return True

    # ------------------------------------------------------------------ Open WebUI contract

    async def pipes(self) -> list[dict[str, str]]:
        valves = self.valves
        snapshot = await self._snapshot(valves)
        if snapshot is None:
            return []
        models = [m for m in snapshot.by_sub_id.values() if self._allowed(m, valves)]
        if valves.PUBLISH_MODEL_METADATA:
            await self._publisher.publish(function_id_of(self), snapshot, models)
        return [
            {"id": m.sub_id, "name": m.name}
            for m in sorted(models, key=lambda m: (m.name.lower(), m.slug))
        ]

    async def pipe(
        self,
        body: dict[str, Any],
        __user__: dict[str, Any] | None = None,
        __request__: Any = None,
        __metadata__: dict[str, Any] | None = None,
        __event_emitter__: Any = None,
        __event_call__: Any = None,
        __task__: Any = None,
        __task_body__: Any = None,
        __files__: Any = None,
        __tools__: Any = None,
        __chat_id__: Any = None,
        __session_id__: Any = None,
        __message_id__: Any = None,
    ) -> Any:
        user = __user__ or {}
        metadata = __metadata__ or {}
        valves = merge_valves(self.valves, user.get("valves"), self.UserValves.model_fields)
        task = bool(__task__)
        streaming = bool(body.get("stream")) and not task
        runtime = get_runtime(self._transport)
        records = RequestRecords(valves, runtime, task=task, model=_str(body.get("model")))
        ctx = RequestContext(
            request_id=new_request_id(),
            user_id=_str(user.get("id")),
            chat_id=_str(metadata.get("chat_id") or __chat_id__),
            message_id=_str(metadata.get("message_id") or __message_id__),
            session_id=_str(metadata.get("session_id") or __session_id__),
            secrets=_known_keys(valves.API_KEY),
            journal=records.journal,
            telemetry=records.telemetry,
        )
        records.bind(ctx, body, __task__)
        runtime.admission.configure(valves.MAX_CONCURRENT_REQUESTS, valves.REQUEST_QUEUE_SIZE)
        fleet = self._fleet()
        admission = BudgetedAdmission(
            runtime.admission,
            fleet.budget(ttl=valves.GLOBAL_LEASE_SECONDS),
            valves.GLOBAL_MAX_CONCURRENT_REQUESTS,
            valves.GLOBAL_QUEUE_TIMEOUT_SECONDS,
        )
        model_ref = _str(body.get("model"))
        tools = None if task else self._tool_session(valves, body, __tools__, runtime)
        recorder = None if task else self._recorder(valves, ctx, runtime)

        # A partial, not a closure: no cells per request, and nothing that refers back to
        # the run (a cycle would keep every request's objects alive until the cyclic GC).
        prepare = functools.partial(
            self._prepare,
            body,
            metadata,
            valves,
            ctx,
            streaming,
            task,
            tools,
            recorder,
            user,
            __files__,
        )

        run = ChatRun(
            ctx=ctx,
            model_label=model_ref,
            prepare=prepare,
            admission=admission,
            policy=RunPolicy(
                max_retries=valves.MAX_RETRIES,
                backoff=valves.RETRY_BACKOFF_SECONDS,
                max_wait=valves.RETRY_MAX_WAIT_SECONDS,
                coalesce_window=valves.STREAM_COALESCE_MS / 1000.0,
                show_progress=valves.SHOW_PROGRESS_STATUS and not task,
                show_final_status=valves.SHOW_FINAL_USAGE_STATUS and not task,
                error_template=valves.ERROR_TEMPLATE,
                support=SupportContacts(valves.SUPPORT_EMAIL.strip(), valves.SUPPORT_URL.strip()),
            ),
            emitter=None if task else records.emitter(__event_emitter__),
            tools=tools,
            gate=self._gate(valves, fleet),
            recorder=recorder,
            guard=RequestGuard(
                fleet.holds,
                runtime.failures,
                GuardPolicy.from_valves(valves),
                ctx.user_id,
            ),
        )
        with request_scope(ctx):
            get_logger().debug("request for %s (stream=%s task=%s)", model_ref, streaming, __task__)
        if streaming:
            return records.stream(run.stream())
        return await records.complete(await run.complete(task=task))

    # ------------------------------------------------------------------ request preparation

    @staticmethod
    def _tool_session(
        valves: Any, body: dict[str, Any], owui_tools: Any, runtime: Any
    ) -> ToolSession | None:
        """The tool loop of one request, or None when no tools are involved.

        The pipe runs the tools of `__tools__`. Open WebUI runs them itself in pass-through
        mode, and so does an API client that sent its own `tools` (Open WebUI then resolves
        no `__tools__`): those calls are handed back in the chat-completions shape."""
        registry = ToolRegistry.from_owui(owui_tools)
        if valves.TOOL_EXECUTION_MODE == "open_webui" or (not registry and body.get("tools")):
            return ToolSession(registry, None, valves.MAX_FUNCTION_CALL_LOOPS)
        if not registry:
            return None
        runtime.tool_slots.configure(valves.MAX_PARALLEL_TOOLS_GLOBAL, 1_000_000)
        policy = ToolPolicy(
            timeout=valves.TOOL_TIMEOUT_SECONDS,
            max_parallel=valves.MAX_PARALLEL_TOOLS_PER_REQUEST,
            max_output_chars=valves.TOOL_OUTPUT_MAX_CHARS,
        )
        executor = ToolExecutor(registry, policy, runtime.tool_slots)
        return ToolSession(registry, executor, valves.MAX_FUNCTION_CALL_LOOPS)

    def _recorder(self, valves: Any, ctx: RequestContext, runtime: Any) -> TurnRecorder:
        """What this request saves for later turns (and what it replayed); with Redis shared
        by the workers, its writes go through the write-behind queue."""
        policy = PersistPolicy(
            reasoning=valves.REASONING_RETENTION,
            tool_results=valves.PERSIST_TOOL_RESULTS,
            retention_days=valves.ARTIFACT_RETENTION_DAYS,
            cleanup_interval_hours=valves.ARTIFACT_CLEANUP_INTERVAL_HOURS,
        )

        write_behind = self._write_behind()

        vault = functools.partial(_open_vault, valves, runtime, write_behind)
        return TurnRecorder(ctx=ctx, policy=policy, vault_factory=vault)

    @staticmethod
    def _sub_id(body: dict[str, Any], metadata: dict[str, Any]) -> str:
        """`<function_id>.<sub_id>` from body["model"], else from the metadata model dict."""
        candidates = [body.get("model")]
        model = json_object(metadata.get("model"))
        candidates += [
            model.get("id"),
            (model.get("info") or {}).get("base_model_id"),
            metadata.get("model_id"),
        ]
        for ref in candidates:
            if isinstance(ref, str) and "." in ref:
                return ref.split(".", 1)[1]
        raise PipeError(
            ErrorKind.MODEL,
            f"cannot tell which model to use from {body.get('model')!r}",
            retryable=False,
        )

    @staticmethod
    def _offered_tools(
        valves: Any, body: dict[str, Any], tools: ToolSession | None
    ) -> tuple[FunctionTool, ...] | None:
        """Pipe mode offers `__tools__` (strict if asked); pass-through keeps the body's."""
        if tools is None:
            return None
        if tools.passthrough:
            if body.get("tools") or not tools.registry:
                return None
            return tuple(tools.registry.definitions(strict=False))
        return tuple(tools.registry.definitions(strict=valves.STRICT_TOOL_SCHEMAS))

    async def _prepare(
        self,
        body: dict[str, Any],
        metadata: dict[str, Any],
        valves: Any,
        ctx: RequestContext,
        streaming: bool,
        task: bool,
        tools: ToolSession | None,
        recorder: TurnRecorder | None,
        user: dict[str, Any] | None,
        files: Any,
        emit: Emitter,
    ) -> tuple[ResponsesClient, ResponsesRequest]:
        """The upstream client and request; a status line says what had to be left out.
        Bound with `functools.partial` per request (all but `emit`, which the run passes)."""
        try:
            api_key = resolve_api_key(valves.API_KEY)
        except SealError as exc:  # never send the ciphertext (or nothing) upstream
            raise PipeError(ErrorKind.CONFIG, str(exc), retryable=False) from exc
        if not api_key:
            raise PipeError(
                ErrorKind.CONFIG, "No OpenRouter API key is configured.", retryable=False
            )
        sub_id = self._sub_id(body, metadata)
        snapshot = await self._snapshot(valves, strict=True)
        model = snapshot.resolve(sub_id) if snapshot else None
        if snapshot is not None and model is None:
            raise PipeError(
                ErrorKind.MODEL,
                f"The model `{sub_id}` is not in the OpenRouter catalog.",
                retryable=False,
            )
        if model is not None and not task and not self._allowed(model, valves):
            raise PipeError(
                ErrorKind.MODEL,
                f"The model `{model.slug}` is not enabled in this pipe's settings.",
                retryable=False,
            )
        slug = model.slug if model else sub_id_to_slug(sub_id)
        options = TranslateOptions(
            stream=streaming,
            reasoning_effort=valves.REASONING_EFFORT,
            reasoning_summary=valves.REASONING_SUMMARY_MODE,
            task=task,
            task_reasoning_effort=valves.TASK_REASONING_EFFORT,
            send_user_id=valves.SEND_END_USER_ID,
            send_session_id=valves.SEND_SESSION_ID,
            send_chat_id=valves.SEND_CHAT_ID,
            send_message_id=valves.SEND_MESSAGE_ID,
            tools=self._offered_tools(valves, body, tools),
            tool_output_turns=valves.TOOL_OUTPUT_RETENTION_TURNS,
        )
        who = Identity(
            user_id=ctx.user_id,
            session_id=ctx.session_id,
            chat_id=ctx.chat_id,
            message_id=ctx.message_id,
        )
        replay = None
        if recorder is not None:
            replay = await load_replay(
                recorder.vault_factory,
                ctx.user_id,
                body.get("messages"),
                slug,
                ("reasoning",) if recorder.policy.reasoning == "next_reply" else (),
            )
            recorder.model_slug, recorder.replay = slug, replay
            if replay is not None:
                recorder.notices.extend(replay.notices)
        user = user or {}
        body, media = await take_media(body, files, model, valves, file_store(), user)
        try:
            request = build_request(body, slug, model, options, who, replay)
        except (TranslationError, ValueError) as exc:
            raise PipeError(
                ErrorKind.INVALID_REQUEST,
                f"The chat request was refused: {exc}.",
                retryable=False,
            ) from exc
        applied = add_features(
            request, model, snapshot, valves, user.get("valves"), metadata, task=task
        )
        config = UpstreamConfig(
            base_url=valves.BASE_URL,
            api_key=api_key,
            attribution=attribution_headers(valves.HTTP_REFERER, valves.APP_TITLE),
            connect_timeout=valves.CONNECT_TIMEOUT_SECONDS,
            read_timeout=valves.READ_TIMEOUT_SECONDS,
        )
        runtime = get_runtime(self._transport)
        fallbacks = FallbackPolicy(valves.CHAT_COMPLETIONS_FALLBACK, valves.RETRY_WITHOUT_REASONING)
        http, streams = runtime.client(valves.BASE_URL), runtime.streams(valves.BASE_URL)
        client = FallbackClient(http, config, fallbacks, runtime.chat_only, streams)
        notices = media.notices + applied.notices
        if notices and not task:
            await emit(status_event(" · ".join(notices), done=True))
        return client, applied.request
