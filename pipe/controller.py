"""The Open WebUI entry point: `Pipe` with its `Valves` / `UserValves`, `pipes()` and `pipe()`.

Open WebUI finds the valve classes by parsing this class body, so they stay nested literally.
The Pipe instance is shared by every concurrent request of a worker: it keeps only the valves
and an optional test transport; per-request state lives in a `ChatRun`.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
from pydantic import Field, field_validator

from .errors import DEFAULT_ERROR_TEMPLATE, ErrorKind, PipeError, SupportContacts
from .fallback import FallbackClient, FallbackPolicy
from .feature_valves import FeatureUserValves, FeatureValves
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
from .orchestrator import ChatRun, RunPolicy
from .owui import file_store, function_id_of
from .persist import PersistPolicy, TurnRecorder
from .runtime import get_runtime
from .secret_valve import SealError, seal
from .settings import default_base_url, merge_valves, resolve_api_key
from .storage.vault import ArtifactVault
from .storage.writebehind import WriteBehindPolicy
from .stream import status_event
from .toolloop import ToolSession
from .tools import ToolExecutor, ToolPolicy, ToolRegistry
from .translate import Identity, TranslateOptions, TranslationError, build_request
from .upstream import ResponsesClient, UpstreamConfig, attribution_headers, catalog_timeout
from .valve_checks import BaseUrlValve, HeaderTextValve, HeaderUrlValve
from .wire import Effort, FunctionTool, ResponsesRequest, json_object

SummaryMode = Literal["auto", "concise", "detailed", "disabled"]
ModelFilter = Literal["all", "only", "exclude"]
ToolMode = Literal["pipe", "open_webui"]
LogLevel = Literal["INHERIT", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
Retention = Literal["disabled", "next_reply", "conversation"]
UNREACHABLE = (ErrorKind.CONNECT_TIMEOUT, ErrorKind.READ_TIMEOUT, ErrorKind.CONNECTION)


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
    class Valves(FeatureValves):
        BASE_URL: BaseUrlValve = Field(
            default_factory=default_base_url,
            description="OpenRouter API base URL (env OPENROUTER_API_BASE_URL).",
        )
        API_KEY: str = Field(
            default="",
            description="OpenRouter API key; empty means the OPENROUTER_API_KEY environment variable. Stored encrypted (keyed from WEBUI_SECRET_KEY).",
            json_schema_extra={"input": {"type": "password"}},
        )
        MODEL_ID: str = Field(
            default="auto",
            description="'auto' lists the whole catalog; otherwise a comma-separated allowlist of model slugs.",
        )
        FREE_MODEL_FILTER: ModelFilter = Field(
            default="all", description="all / only free models / exclude free models."
        )
        TOOL_CALLING_FILTER: ModelFilter = Field(
            default="all", description="all / only models with tool calling / exclude them."
        )
        MODEL_CATALOG_REFRESH_SECONDS: int = Field(
            default=3600, ge=60, le=604800, description="How long the model catalog is cached."
        )
        REASONING_EFFORT: Effort = Field(
            default="medium",
            description="Default reasoning effort for models that reason ('none' turns it off where allowed).",
        )
        REASONING_SUMMARY_MODE: SummaryMode = Field(
            default="auto",
            description="Reasoning summary requested from the model; 'disabled' asks for none.",
        )
        TASK_REASONING_EFFORT: Effort = Field(
            default="low",
            description="Reasoning effort for Open WebUI tasks (titles, tags, follow-ups).",
        )
        MAX_CONCURRENT_REQUESTS: int = Field(
            default=50,
            ge=1,
            le=2000,
            description="Requests running at once per worker (applies live).",
        )
        REQUEST_QUEUE_SIZE: int = Field(
            default=500,
            ge=0,
            le=100000,
            description="Requests allowed to wait for a slot; beyond it users get a 'busy' message at once.",
        )
        CONNECT_TIMEOUT_SECONDS: float = Field(
            default=10.0,
            gt=0,
            le=300,
            allow_inf_nan=False,
            description="Connect timeout to OpenRouter (also bounds the model list request).",
        )
        READ_TIMEOUT_SECONDS: float = Field(
            default=300.0,
            gt=0,
            le=3600,
            allow_inf_nan=False,
            description="Longest silence allowed between two reads of an answer.",
        )
        MAX_RETRIES: int = Field(
            default=2,
            ge=0,
            le=10,
            description="Retries on 408/429/5xx/timeouts, only before anything was shown.",
        )
        RETRY_BACKOFF_SECONDS: float = Field(
            default=0.5,
            ge=0,
            le=60,
            allow_inf_nan=False,
            description="First retry delay; doubles per retry (Retry-After wins).",
        )
        RETRY_MAX_WAIT_SECONDS: float = Field(
            default=30.0,
            ge=0,
            le=3600,
            allow_inf_nan=False,
            description="Longest wait before a retry; a longer Retry-After shows the error instead.",
        )
        BREAKER_MAX_FAILURES: int = Field(
            default=5,
            ge=0,
            le=100,
            description="Failed requests of one user (within BREAKER_WINDOW_SECONDS) that pause that user's requests (0: off).",
        )
        BREAKER_WINDOW_SECONDS: float = Field(
            default=60.0, gt=0, le=3600, allow_inf_nan=False, description="The breaker's window."
        )
        BREAKER_COOLDOWN_SECONDS: float = Field(
            default=30.0,
            gt=0,
            le=3600,
            allow_inf_nan=False,
            description="How long a user's requests stay paused once the breaker tripped.",
        )
        CHAT_COMPLETIONS_FALLBACK: bool = Field(
            default=True,
            description="When OpenRouter refuses /responses for a model, ask it on /chat/completions instead (before anything was shown).",
        )
        RETRY_WITHOUT_REASONING: bool = Field(
            default=True,
            description="When a provider rejects the reasoning parameters, retry once without them.",
        )
        STREAM_COALESCE_MS: int = Field(
            default=40,
            ge=0,
            le=1000,
            description="Window in which streamed deltas are merged into one chunk (0: no merging).",
        )
        SEND_END_USER_ID: bool = Field(
            default=False, description="Send the Open WebUI user id as `user` and metadata.user_id."
        )
        SEND_SESSION_ID: bool = Field(
            default=False,
            description="Send the session id as `session_id` and metadata.session_id.",
        )
        SEND_CHAT_ID: bool = Field(default=False, description="Send metadata.chat_id.")
        SEND_MESSAGE_ID: bool = Field(default=False, description="Send metadata.message_id.")
        SHOW_PROGRESS_STATUS: bool = Field(
            default=True, description="Status lines while thinking and searching."
        )
        SHOW_FINAL_USAGE_STATUS: bool = Field(
            default=True, description="Final status line: time, tokens, cost, tokens/s."
        )
        HTTP_REFERER: HeaderUrlValve = Field(
            default="https://openwebui.com/",
            description="App attribution URL (HTTP-Referer header).",
        )
        APP_TITLE: HeaderTextValve = Field(
            default="Open WebUI",
            description="App attribution name (X-OpenRouter-Title header; printable ASCII).",
        )
        ERROR_TEMPLATE: str = Field(
            default=DEFAULT_ERROR_TEMPLATE,
            description="Markdown for error messages; placeholders {title} {message} {hint} {details} {error_id} {timestamp} {support} {kind} {status}.",
        )
        SUPPORT_EMAIL: str = Field(default="", description="Shown in error messages when set.")
        SUPPORT_URL: str = Field(default="", description="Shown in error messages when set.")
        TOOL_EXECUTION_MODE: ToolMode = Field(
            default="pipe",
            description="'pipe': the pipe runs Open WebUI's tools between model calls; 'open_webui': tool calls are handed to Open WebUI's own tool loop.",
        )
        MAX_FUNCTION_CALL_LOOPS: int = Field(
            default=25,
            ge=1,
            le=1000,
            description="Most tool rounds (model call -> tools -> model call) in one request.",
        )
        MAX_PARALLEL_TOOLS_PER_REQUEST: int = Field(
            default=5, ge=1, le=50, description="Tool calls of one request running at once."
        )
        MAX_PARALLEL_TOOLS_GLOBAL: int = Field(
            default=200,
            ge=1,
            le=2000,
            description="Tool calls running at once in this worker process (applies live).",
        )
        TOOL_TIMEOUT_SECONDS: float = Field(
            default=60.0,
            gt=0,
            le=3600,
            allow_inf_nan=False,
            description="Longest run of one tool call; a slower call is cancelled and the model told.",
        )
        TOOL_OUTPUT_MAX_CHARS: int = Field(
            default=50_000,
            ge=100,
            le=5_000_000,
            description="Longer tool outputs are cut to this many characters, with a note.",
        )
        STRICT_TOOL_SCHEMAS: bool = Field(
            default=False,
            description="Send tool schemas in strict mode where they can be (all properties required, no extra ones).",
        )
        REDIS_ENABLED: bool = Field(
            default=True,
            description="Share state between workers through Redis when a Redis URL is known (off: every worker keeps its own).",
        )
        REDIS_URL: str = Field(
            default="",
            description="Redis for the shared state; empty means Open WebUI's own REDIS_URL (none: no sharing).",
        )
        GLOBAL_MAX_CONCURRENT_REQUESTS: int = Field(
            default=0,
            ge=0,
            le=100000,
            description="Requests running at once across all workers (needs Redis; 0: no fleet-wide limit).",
        )
        GLOBAL_QUEUE_TIMEOUT_SECONDS: float = Field(
            default=30.0,
            ge=0,
            le=3600,
            description="How long a request waits for a fleet-wide slot before a 'busy' message.",
        )
        GLOBAL_LEASE_SECONDS: float = Field(
            default=30.0,
            ge=3,
            le=3600,
            description="A fleet-wide slot held by a worker that died is free again after this long.",
        )
        AUTH_FAILURE_COOLDOWN_SECONDS: float = Field(
            default=60.0,
            ge=0,
            le=3600,
            description="After OpenRouter refuses the API key (401), chats fail at once for this long instead of calling it again (every worker, with Redis); 0: off.",
        )
        WRITE_BEHIND_ENABLED: bool = Field(
            default=True,
            description="With Redis: stored reasoning/tool results go to Redis at once (readable by every worker) and to the database in batches.",
        )
        WRITE_BEHIND_BATCH_SIZE: int = Field(
            default=50, ge=1, le=1000, description="Queued turns written per database transaction."
        )
        WRITE_BEHIND_CLAIM_SECONDS: float = Field(
            default=30.0,
            ge=1,
            le=3600,
            description="A queued turn taken by a worker that has not committed it after this long is taken over by another.",
        )
        WRITE_BEHIND_CACHE_SECONDS: int = Field(
            default=3600,
            ge=60,
            le=604800,
            description="How long queued rows stay readable from Redis (keep it above the longest database outage you ride out).",
        )
        WRITE_BEHIND_WARN_DEPTH: int = Field(
            default=1000,
            ge=1,
            le=10_000_000,
            description="Log a warning when more turns than this wait for the database.",
        )
        WRITE_BEHIND_FAILURE_LIMIT: int = Field(
            default=5,
            ge=1,
            le=100,
            description="Redis refusals in a row before this worker writes turns directly to the database (until Redis answers).",
        )

        LOG_LEVEL: LogLevel = Field(
            default="INHERIT",
            description="The pipe's log level; INHERIT follows Open WebUI's (GLOBAL_LOG_LEVEL). Session logs capture DEBUG whatever this says.",
        )
        SESSION_LOG_ENABLED: bool = Field(
            default=False,
            description="Write one encrypted archive per chat request (logs, upstream request and raw events, what the user saw); docs/operations.md.",
        )
        SESSION_LOG_DIR: str = Field(
            default="",
            description="Empty: archives go to the database (Open WebUI's own; every worker can read them). A directory path: one file per archive there.",
        )
        SESSION_LOG_RETENTION_DAYS: int = Field(
            default=30, ge=1, le=3650, description="Archives older than this are deleted."
        )
        SESSION_LOG_MAX_BYTES: int = Field(
            default=8_000_000,
            ge=10_000,
            le=200_000_000,
            description="Most bytes of logs and upstream data kept per archive (before compression); the rest is counted, not kept.",
        )
        SESSION_LOG_MAX_RECORDS: int = Field(
            default=5_000, ge=100, le=200_000, description="Most log records kept per archive."
        )
        USAGE_RECORDS_ENABLED: bool = Field(
            default=False,
            description="Store one row per request (user, model, tokens, cost, latency, outcome) for `orsim usage`.",
        )

        REASONING_RETENTION: Retention = Field(
            default="conversation",
            description="Keep the model's reasoning for later turns: 'conversation' (until retention), 'next_reply' (deleted once replayed), 'disabled'.",
        )
        PERSIST_TOOL_RESULTS: bool = Field(
            default=True,
            description="Keep tool calls and their results so later turns still know what the tools returned.",
        )
        TOOL_OUTPUT_RETENTION_TURNS: int = Field(
            default=10,
            ge=0,
            le=1000,
            description="Tool results older than this many turns are shortened to head and tail when replayed (0: never).",
        )
        ARTIFACT_DATABASE_URL: str = Field(
            default="",
            description="Database for stored reasoning/tool results; empty: Open WebUI's own database (outside Open WebUI: SQLite in DATA_DIR).",
        )
        ARTIFACT_ENCRYPTION_KEY: str = Field(
            default="",
            description="Secret that encrypts stored reasoning/tool results; empty: derived from WEBUI_SECRET_KEY.",
        )
        ARTIFACT_PREVIOUS_KEYS: str = Field(
            default="",
            description="Earlier ARTIFACT_ENCRYPTION_KEY values (comma-separated) whose rows stay readable.",
        )
        ARTIFACT_RETENTION_DAYS: int = Field(
            default=90,
            ge=1,
            le=3650,
            description="Stored items unused for this many days are deleted.",
        )
        ARTIFACT_CLEANUP_INTERVAL_HOURS: float = Field(
            default=6.0, ge=0.1, le=168, description="How often each worker runs that cleanup."
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
        url = resolve_redis_url(valves.REDIS_URL, valves.REDIS_ENABLED)
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

        async def prepare() -> tuple[ResponsesClient, ResponsesRequest]:
            client, request, notices = await self._prepare(
                body,
                metadata,
                valves,
                ctx,
                streaming=streaming,
                task=task,
                tools=tools,
                recorder=recorder,
                user=user,
                files=__files__,
            )
            if notices and not task:
                await run.emit(status_event(" · ".join(notices), done=True))
            return client, request

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

        def vault() -> ArtifactVault:
            return runtime.vault(  # type: ignore[no-any-return]
                valves.ARTIFACT_DATABASE_URL,
                valves.ARTIFACT_ENCRYPTION_KEY,
                valves.ARTIFACT_PREVIOUS_KEYS,
                write_behind,
            )

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
        *,
        streaming: bool,
        task: bool,
        tools: ToolSession | None = None,
        recorder: TurnRecorder | None = None,
        user: dict[str, Any] | None = None,
        files: Any = None,
    ) -> tuple[ResponsesClient, ResponsesRequest, list[str]]:
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
                recorder.vault_factory, ctx.user_id, body.get("messages"), slug
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
        return client, applied.request, media.notices + applied.notices
