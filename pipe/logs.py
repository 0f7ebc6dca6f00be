"""Per-request logging context (contextvars) and secret redaction.

Every log record emitted while a request runs carries its request id, user, chat and session,
so one grep follows one request across the whole pipe. Secrets never reach a log line: the
filter masks bearer tokens and OpenRouter keys in every formatted message.
"""

from __future__ import annotations

import contextvars
import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

LOGGER_NAME = "openrouter_pipe"


@dataclass(frozen=True)
class RequestContext:
    """Who and what one request is about; ids may be empty when the host has none."""

    request_id: str
    user_id: str = ""
    chat_id: str = ""
    message_id: str = ""
    session_id: str = ""


_current_request: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "openrouter_pipe_request", default=None
)

_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+"),
    re.compile(r"sk-or-[A-Za-z0-9_\-]+"),
    re.compile(r"(?i)(api[_-]?key[\"'=:\s]+)[A-Za-z0-9._\-]{8,}"),
)


def redact(text: str) -> str:
    """Mask anything that looks like a credential."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "***", text)
        else:
            text = pattern.sub("sk-or-***", text)
    return text


def new_request_id() -> str:
    return secrets.token_hex(8)


def current_request() -> RequestContext | None:
    return _current_request.get()


@contextmanager
def request_scope(ctx: RequestContext) -> Iterator[RequestContext]:
    """Bind `ctx` for the code (and tasks) running inside the block."""
    previous = _current_request.get()
    token = _current_request.set(ctx)
    try:
        yield ctx
    finally:
        try:
            _current_request.reset(token)
        except ValueError:  # a generator resumed from another task's context
            _current_request.set(previous)


def bind_request(ctx: RequestContext) -> None:
    """Re-bind after a generator resumes: its consumer may call it from another context."""
    if _current_request.get() is not ctx:
        _current_request.set(ctx)


class RequestContextFilter(logging.Filter):
    """Adds request fields to records and redacts secrets from the message."""

    openrouter_pipe_filter = True  # recognised across reloads of the function module

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _current_request.get()
        record.request_id = ctx.request_id if ctx else "-"
        record.user_id = ctx.user_id if ctx else "-"
        record.chat_id = ctx.chat_id if ctx else "-"
        record.session_id = ctx.session_id if ctx else "-"
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if ctx is not None and not getattr(record, "_pipe_prefixed", False):
            record.msg = (
                f"[req={ctx.request_id} user={ctx.user_id or '-'} chat={ctx.chat_id or '-'} "
                f"session={ctx.session_id or '-'}] {record.msg}"
            )
            record._pipe_prefixed = True
        return True


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
