"""Per-request logging context (contextvars) and secret redaction.

Every log record emitted while a request runs carries its request id, user, chat and session,
so one grep follows one request across the whole pipe. Secrets never reach a log line: the
filter masks bearer tokens and OpenRouter keys in every formatted message.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from .redaction import LOG_MESSAGE_MAX, bind_secrets, unbind_secrets, user_text

LOGGER_NAME = "openrouter_pipe"


@dataclass(frozen=True)
class RequestContext:
    """Who and what one request is about; ids may be empty when the host has none."""

    request_id: str
    user_id: str = ""
    chat_id: str = ""
    message_id: str = ""
    session_id: str = ""
    # The request's own secrets (its API key): masked in everything it logs or shows.
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)
    # The request's SessionJournal (pipe/sessionlog.py) when session logs are on.
    journal: Any = field(default=None, repr=False, compare=False)
    # The request's RequestTelemetry (pipe/telemetry.py) when OpenTelemetry is on.
    telemetry: Any = field(default=None, repr=False, compare=False)


_current_request: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "openrouter_pipe_request", default=None
)


def new_request_id() -> str:
    return secrets.token_hex(8)


def current_request() -> RequestContext | None:
    return _current_request.get()


class request_scope:
    """Bind `ctx` for the code (and tasks) running inside the block. A class rather than a
    generator-based context manager: it spans a whole streamed answer, so its objects live
    as long as the request does."""

    __slots__ = ("_ctx", "_previous", "_secrets_token", "_token")

    def __init__(self, ctx: RequestContext) -> None:
        self._ctx = ctx

    def __enter__(self) -> RequestContext:
        self._previous = _current_request.get()
        self._token = _current_request.set(self._ctx)
        self._secrets_token = bind_secrets(self._ctx.secrets)
        return self._ctx

    def __exit__(self, *exc_info: object) -> None:
        unbind_secrets(self._secrets_token)
        try:
            _current_request.reset(self._token)
        except ValueError:  # a generator resumed from another task's context
            _current_request.set(self._previous)


def bind_request(ctx: RequestContext) -> None:
    """Re-bind after a generator resumes: its consumer may call it from another context."""
    if _current_request.get() is not ctx:
        _current_request.set(ctx)
        bind_secrets(ctx.secrets)


def current_journal() -> Any:
    """The running request's capturing SessionJournal, or None (session logs off)."""
    ctx = _current_request.get()
    journal = ctx.journal if ctx is not None else None
    return journal if journal is not None and journal.capture else None


def current_telemetry() -> Any:
    """The running request's RequestTelemetry, or None (telemetry off)."""
    ctx = _current_request.get()
    return ctx.telemetry if ctx is not None else None


class RequestContextFilter(logging.Filter):
    """Adds request fields to records, redacts secrets from the message, hands every record to
    the request's session journal, and applies the LOG_LEVEL valve to what goes further (the
    logger itself runs at DEBUG while a journal needs every record)."""

    openrouter_pipe_filter = True  # recognised across reloads of the function module

    def __init__(self) -> None:
        super().__init__()
        self.console_level: int | None = None  # None: whatever the logger's level lets through
        self.forced_debug = False

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _current_request.get()
        record.request_id = ctx.request_id if ctx else "-"
        record.user_id = ctx.user_id if ctx else "-"
        record.chat_id = ctx.chat_id if ctx else "-"
        record.message_id = ctx.message_id if ctx else "-"
        record.session_id = ctx.session_id if ctx else "-"
        message = record.getMessage()
        cleaned = user_text(message, LOG_MESSAGE_MAX)
        if record.exc_info and not record.exc_text:  # tracebacks quote exception messages
            record.exc_text = user_text(
                logging.Formatter().formatException(record.exc_info), LOG_MESSAGE_MAX
            )
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if ctx is not None and ctx.journal is not None and ctx.journal.capture:
            ctx.journal.record(record, cleaned)
        if ctx is not None and not getattr(record, "_pipe_prefixed", False):
            record.msg = (
                f"[req={ctx.request_id} user={ctx.user_id or '-'} chat={ctx.chat_id or '-'} "
                f"msg={ctx.message_id or '-'} session={ctx.session_id or '-'}] {record.msg}"
            )
            record._pipe_prefixed = True
        return self.console_level is None or record.levelno >= self.console_level


def configure_logging(level: str, capture: bool) -> None:
    """Apply the LOG_LEVEL valve ("INHERIT": Open WebUI's level); `capture` (session logs on)
    makes the logger create DEBUG records for the journals without printing them."""
    logger = get_logger()
    gate = next(f for f in logger.filters if type(f) is RequestContextFilter)
    explicit = logging.getLevelName(level) if level != "INHERIT" else None
    if capture:
        if logger.level != logging.DEBUG:
            gate.console_level = explicit or logger.getEffectiveLevel()
        elif explicit:
            gate.console_level = explicit
        logger.setLevel(logging.DEBUG)
        gate.forced_debug = True
        return
    if gate.forced_debug:  # session logs were switched off: back to the plain level
        logger.setLevel(explicit or logging.NOTSET)
        gate.forced_debug = False
    elif explicit:
        logger.setLevel(explicit)
    gate.console_level = None


def get_logger() -> logging.Logger:
    """The pipe's logger; the context filter is attached once."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(type(f) is RequestContextFilter for f in logger.filters):
        # Open WebUI re-executes the module when the function changes: drop the filter of the
        # previous copy (it reads a stale context variable) before adding this one.
        for old in [f for f in logger.filters if getattr(f, "openrouter_pipe_filter", False)]:
            logger.removeFilter(old)
        logger.addFilter(RequestContextFilter())
    return logger
