"""The connection, request, retry, output and tool valves, as a base of `Pipe.Valves` (which
stays nested literally in the controller and declares the base URL and API key itself, so they
lead the form Open WebUI renders). Every valve is documented in docs/configuration.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .errors import DEFAULT_ERROR_TEMPLATE
from .state_valves import StateValves
from .valve_checks import HeaderTextValve, HeaderUrlValve
from .wire import Effort

SummaryMode = Literal["auto", "concise", "detailed", "disabled"]
ModelFilter = Literal["all", "only", "exclude"]
ToolMode = Literal["pipe", "open_webui"]


class RequestValves(StateValves):
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
