"""One redaction and one length cap for every string a user, a log line or an archive sees.

`redact` masks credential shapes (OpenRouter/OpenAI/Anthropic `sk-` keys, GitHub, Slack,
Google and AWS keys, JWTs, `Bearer ...` tokens, `api_key=...` assignments) plus any secret the
running request knows (its configured API key, whatever its shape). `user_text` adds a length
cap: an upstream may send a 2 MB error message, and that must not become a 2 MB chat message.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterable

REDACTED = "[redacted]"
# Caps per kind of user-visible string (characters).
ERROR_MESSAGE_MAX = 2_000
ERROR_TEXT_MAX = 8_000
STATUS_MAX = 300
CITATION_TITLE_MAX = 300
CITATION_URL_MAX = 2_000
CITATION_EXCERPT_MAX = 2_000
LOG_MESSAGE_MAX = 16_000
# A key cut in half by the cap must still be recognised: redact a little beyond the cap.
_OVERLAP = 256
_MIN_SECRET_LEN = 8

_PATTERNS: tuple[re.Pattern[str], ...] = (
    # "Bearer <token>", "Authorization: Basic <token>": keep the scheme, mask the token.
    re.compile(r"(?i)(\b(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=\-]{8,}"),
    # `api_key=...`, "apiKey": "...", password: ..., x-api-key: ...
    re.compile(
        r"(?i)((?:api[_-]?key|apikey|secret|password|passwd|access[_-]?token|auth[_-]?token)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}]{6,}"
    ),
    re.compile(r"\bsk-or-[A-Za-z0-9_\-]+"),  # OpenRouter's prefix is distinctive at any length
    re.compile(r"\bsk-[A-Za-z0-9][A-Za-z0-9_\-]{10,}"),  # sk-proj-, sk-ant-, sk-
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
)

_known_secrets: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "openrouter_pipe_known_secrets", default=()
)


def _mask(match: re.Match[str]) -> str:
    return (match.group(1) if match.re.groups else "") + REDACTED


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every credential shape and every known secret masked."""
    if not text:
        return text
    for secret in (*secrets, *_known_secrets.get()):
        if secret and len(secret) >= _MIN_SECRET_LEN and secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(_mask, text)
    return text


def user_text(value: object, limit: int) -> str:
    """The one gate for user-visible strings: redacted, then capped. Only the head that can
    be shown is scanned, so a huge string costs no more than a short one."""
    text = value if isinstance(value, str) else str(value)
    clean = redact(text[: limit + _OVERLAP])
    if len(text) <= limit + _OVERLAP and len(clean) <= limit:
        return clean
    return f"{clean[:limit]}… [cut: {len(text):,} characters in all]"


def bind_secrets(secrets: tuple[str, ...]) -> contextvars.Token[tuple[str, ...]] | None:
    """Make `redact` mask the running request's own secrets (its API key, whatever its
    shape); bound and re-bound together with the request context (pipe/logs.py)."""
    if _known_secrets.get() == secrets:
        return None
    return _known_secrets.set(secrets)


def unbind_secrets(token: contextvars.Token[tuple[str, ...]] | None) -> None:
    if token is None:
        return
    try:
        _known_secrets.reset(token)
    except ValueError:  # a generator resumed from another task's context
        _known_secrets.set(())
