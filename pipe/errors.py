"""Error taxonomy and the Markdown the user reads when something fails.

Every failure becomes a `PipeError` with a `kind`; `render_error` turns it into readable
Markdown with an error id (also logged) and the operator's support contacts. Retry decisions
(`retryable`, `retry_after`) live on the error so the upstream layer needs no status tables.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import enum
import re
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .logs import get_logger
from .redaction import ERROR_MESSAGE_MAX, ERROR_TEXT_MAX, user_text
from .wire import ErrorBody


class ErrorKind(enum.StrEnum):
    BAD_REQUEST = "bad_request"  # 400, 413, 422
    AUTH = "auth"  # 401
    CREDITS = "credits"  # 402
    FORBIDDEN = "forbidden"  # 403 (moderation, permission, region)
    NOT_FOUND = "not_found"  # 404
    UPSTREAM_TIMEOUT = "upstream_timeout"  # 408, 504, 524
    RATE_LIMIT = "rate_limit"  # 429
    SERVER = "server"  # 5xx
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"
    CONNECTION = "connection"  # refused, reset, DNS
    STREAM_ERROR = "stream_error"  # error event / response.failed mid-stream
    STREAM_CUT = "stream_cut"  # EOF before a terminal event
    MALFORMED_STREAM = "malformed_stream"  # an event that is not valid JSON / has no type
    NOT_AN_ANSWER = "not_an_answer"  # HTTP 200 but not an event stream / JSON (an HTML page)
    INVALID_REQUEST = "invalid_request"  # the chat body is malformed: nothing was sent
    PAUSED = "paused"  # the user's breaker is open after repeated failures
    BUSY = "busy"  # admission queue full
    CONFIG = "config"  # e.g. no API key
    MODEL = "model"  # unknown or filtered model
    INTERNAL = "internal"


RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 524, 529})

_TITLES: dict[ErrorKind, tuple[str, str]] = {
    ErrorKind.BAD_REQUEST: (
        "OpenRouter rejected the request",
        "Check the model and its parameters, or shorten the conversation.",
    ),
    ErrorKind.AUTH: (
        "OpenRouter authentication failed",
        "The administrator should check the pipe's API key.",
    ),
    ErrorKind.CREDITS: (
        "Insufficient OpenRouter credits",
        "Add credits at https://openrouter.ai/credits or raise the key's limit.",
    ),
    ErrorKind.FORBIDDEN: (
        "OpenRouter refused this request",
        "The request was blocked (moderation, permissions or region).",
    ),
    ErrorKind.NOT_FOUND: (
        "Model not available",
        "The model may be deprecated or have no available provider.",
    ),
    ErrorKind.UPSTREAM_TIMEOUT: (
        "The model took too long to answer",
        "Please try again in a moment.",
    ),
    ErrorKind.RATE_LIMIT: (
        "Rate limited by OpenRouter",
        "Too many requests right now; please wait and try again.",
    ),
    ErrorKind.SERVER: (
        "OpenRouter or the model provider had an error",
        "This is usually temporary; please try again.",
    ),
    ErrorKind.CONNECT_TIMEOUT: (
        "Could not reach OpenRouter in time",
        "The network or OpenRouter is slow; please try again.",
    ),
    ErrorKind.READ_TIMEOUT: (
        "The model stopped sending data",
        "The connection went idle for too long; please try again.",
    ),
    ErrorKind.CONNECTION: (
        "Could not connect to OpenRouter",
        "The administrator should check the network and BASE_URL.",
    ),
    ErrorKind.STREAM_ERROR: (
        "The model reported an error while answering",
        "Please try again; another provider may be used.",
    ),
    ErrorKind.STREAM_CUT: (
        "The answer was cut off",
        "The connection closed before the model finished; please try again.",
    ),
    ErrorKind.MALFORMED_STREAM: (
        "OpenRouter sent an answer the pipe could not read",
        "A stream event was corrupt (usually a passing proxy or provider glitch); please try again.",
    ),
    ErrorKind.NOT_AN_ANSWER: (
        "OpenRouter's address answered with something else",
        "The administrator should check BASE_URL and any proxy in between.",
    ),
    ErrorKind.INVALID_REQUEST: (
        "The request is malformed",
        "Nothing was sent to OpenRouter; correct the request and try again.",
    ),
    ErrorKind.PAUSED: (
        "Paused after repeated failures",
        "Your recent requests kept failing, so yours are paused for a moment; please try again shortly.",
    ),
    ErrorKind.BUSY: ("Server busy", "Too many requests are waiting; please try again shortly."),
    ErrorKind.CONFIG: (
        "The pipe is not configured",
        "The administrator must set the OpenRouter API key.",
    ),
    ErrorKind.MODEL: (
        "Model not available",
        "This model is not offered by the pipe's configuration.",
    ),
    ErrorKind.INTERNAL: (
        "Unexpected error in the pipe",
        "Please try again; if it persists, contact support.",
    ),
}


class PipeError(Exception):
    """A failure with everything needed to decide on retries and to tell the user."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        code: str | int | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.code = code
        self.error_type = error_type
        self.retry_after = retry_after
        self.details = details or {}
        if retryable is None:
            retryable = (
                (status in RETRYABLE_STATUSES)
                if status
                else kind
                in (
                    ErrorKind.CONNECT_TIMEOUT,
                    ErrorKind.READ_TIMEOUT,
                    ErrorKind.CONNECTION,
                    ErrorKind.STREAM_CUT,
                )
            )
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"PipeError({self.kind.value}, status={self.status}, code={self.code!r}, {self.message!r})"


def kind_for_status(status: int) -> ErrorKind:
    if status in (408, 504, 524):
        return ErrorKind.UPSTREAM_TIMEOUT
    if status >= 500:
        return ErrorKind.SERVER
    return {
        401: ErrorKind.AUTH,
        402: ErrorKind.CREDITS,
        403: ErrorKind.FORBIDDEN,
        404: ErrorKind.NOT_FOUND,
        429: ErrorKind.RATE_LIMIT,
    }.get(status, ErrorKind.BAD_REQUEST)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return max(0.0, (when - _dt.datetime.now(_dt.UTC)).total_seconds())


def error_from_http(status: int, body: Any, headers: dict[str, str] | None = None) -> PipeError:
    """Classify a non-2xx answer; `error.code` may be an int or a string."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    parsed = ErrorBody.model_validate(body if isinstance(body, dict) else {})
    err = parsed.error
    message = err.message or (body if isinstance(body, str) and body else f"HTTP {status}")
    retry_after = parse_retry_after(headers.get("retry-after"))
    if retry_after is None and err.availability.retry_after is not None:
        retry_after = float(err.availability.retry_after)
    details: dict[str, Any] = {}
    if err.metadata.reasons:
        details["reasons"] = [str(r) for r in err.metadata.reasons]
    if err.metadata.flagged_input:
        details["flagged_input"] = err.metadata.flagged_input[:100]
    if err.metadata.provider_name:
        details["provider"] = err.metadata.provider_name
    if err.metadata.raw:  # read by the fallbacks (e.g. "thinking is not enabled"), not shown
        details["raw"] = str(err.metadata.raw)[:500]
    if err.availability.code:
        details["availability"] = err.availability.code
    if headers.get("x-generation-id"):
        details["generation_id"] = headers["x-generation-id"]
    return PipeError(
        kind_for_status(status),
        message,
        status=status,
        code=err.code,
        error_type=err.error_type or parsed.error_type,
        retry_after=retry_after,
        details=details,
    )


def error_from_stream(
    code: str | int | None, message: str, error_type: str | None = None
) -> PipeError:
    """An in-band failure (`error` event or `response.failed`)."""
    retryable = error_type in (
        "provider_overloaded",
        "provider_unavailable",
        "timeout",
        "server",
    ) or code in (
        "server_error",
        "rate_limit_exceeded",
    )
    return PipeError(
        ErrorKind.STREAM_ERROR, message, code=code, error_type=error_type, retryable=retryable
    )


DEFAULT_ERROR_TEMPLATE = """### ⚠️ {title}
{message}
{hint}
{details}
Error ID: `{error_id}` · {timestamp}
{support}"""


@dataclass(frozen=True)
class SupportContacts:
    email: str = ""
    url: str = ""

    def markdown(self) -> str:
        parts = []
        if self.email:
            parts.append(f"[{self.email}](mailto:{self.email})")
        if self.url:
            parts.append(self.url)
        return ("Support: " + " · ".join(parts)) if parts else ""


def new_error_id() -> str:
    return secrets.token_hex(8)


# Operator templates may pad or align a field, but not by millions of characters.
TEMPLATE_MAX_WIDTH = 200
_WIDTH = re.compile(r"(\d+)")


class TemplateError(ValueError):
    """An operator's ERROR_TEMPLATE that cannot be filled."""


class _TemplateFormatter(string.Formatter):
    """`str.format` limited to plain placeholder names and modest widths."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if field_name not in kwargs:  # no attribute or index access: `{title.__class__}`
            raise TemplateError(f"unknown placeholder {{{field_name}}}")
        return kwargs[field_name], field_name

    def format_field(self, value: Any, format_spec: str) -> Any:
        widths = [int(w) for w in _WIDTH.findall(format_spec)]
        if any(w > TEMPLATE_MAX_WIDTH for w in widths):
            raise TemplateError(f"format width in {{:{format_spec}}} exceeds {TEMPLATE_MAX_WIDTH}")
        return super().format_field(value, format_spec)


_FORMATTER = _TemplateFormatter()


def _fill(template: str, values: dict[str, str]) -> str:
    """Fill every line; a line whose placeholders are all empty is dropped."""
    lines = []
    for line in template.splitlines():
        names = [n for n in values if "{" + n + "}" in line]
        if names and all(not values[n] for n in names):
            continue
        try:
            lines.append(_FORMATTER.vformat(line, (), values))
        except TemplateError:
            raise
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise TemplateError(f"{type(exc).__name__}: {exc}") from exc
    return "\n".join(lines)


def render_error(
    error: PipeError,
    *,
    error_id: str,
    template: str = "",
    support: SupportContacts | None = None,
) -> str:
    """Fill the template with redacted, capped values. An operator template that cannot be
    filled falls back to the default one (the real error is never lost) and says so."""
    title, hint = _TITLES[error.kind]
    detail_lines = []
    if error.status:
        detail_lines.append(f"HTTP {error.status}")
    if error.code not in (None, "", error.status):
        detail_lines.append(f"code `{error.code}`")
    if error.error_type:
        detail_lines.append(f"type `{error.error_type}`")
    if error.details.get("provider"):
        detail_lines.append(f"provider {error.details['provider']}")
    if error.retry_after:
        detail_lines.append(f"retry after {error.retry_after:g}s")
    if error.details.get("reasons"):
        detail_lines.append("reasons: " + ", ".join(error.details["reasons"]))
    if error.details.get("flagged_input"):
        detail_lines.append(f"flagged: “{error.details['flagged_input']}”")
    if error.details.get("generation_id"):  # what OpenRouter support asks for
        detail_lines.append(f"generation `{error.details['generation_id']}`")
    elif error.details.get("response_id"):
        detail_lines.append(f"response `{error.details['response_id']}`")
    values = {
        "title": title,
        "message": user_text(error.message.strip(), ERROR_MESSAGE_MAX),
        "hint": hint,
        "details": user_text(" · ".join(detail_lines), ERROR_MESSAGE_MAX),
        "error_id": error_id,
        "timestamp": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "support": (support or SupportContacts()).markdown(),
        "kind": error.kind.value,
        "status": str(error.status or ""),
    }
    try:
        text = _fill((template or DEFAULT_ERROR_TEMPLATE)[:ERROR_TEXT_MAX], values)
    except TemplateError as exc:
        get_logger().warning("ERROR_TEMPLATE cannot be used (%s); showing the default", exc)
        text = _fill(DEFAULT_ERROR_TEMPLATE, values)
        text += f"\n\n*(The pipe's ERROR_TEMPLATE could not be used: {exc}.)*"
    return user_text(text, ERROR_TEXT_MAX)
