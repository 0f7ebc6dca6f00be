"""Checks on the chat body before anything is sent: a malformed body is refused with a
message that names the problem (and costs no upstream call), never silently changed.

Open WebUI itself passes a message without a usable role or with non-text content straight
to the pipe; left alone these became an empty `input` (a billed call answering nothing) or
empty text. Numbers out of range are refused, not clamped.
"""

from __future__ import annotations

import math
from typing import Any

ROLES = ("system", "developer", "user", "assistant", "tool")
# name -> (lowest, highest, whole numbers only)
NUMBER_RANGES: dict[str, tuple[float, float, bool]] = {
    "temperature": (0.0, 2.0, False),
    "top_p": (0.0, 1.0, False),
    "top_k": (0.0, 1_000_000.0, True),
    "frequency_penalty": (-2.0, 2.0, False),
    "presence_penalty": (-2.0, 2.0, False),
    "top_logprobs": (0.0, 20.0, True),
}
MAX_OUTPUT_TOKENS_LIMIT = 2**31 - 1
MAX_TOKEN_FIELDS = ("max_output_tokens", "max_completion_tokens", "max_tokens")


class BodyError(ValueError):
    """The chat body is malformed; the message says where and how."""


def check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise BodyError("the request has no messages")
    for n, msg in enumerate(messages, 1):
        if not isinstance(msg, dict):
            raise BodyError(f"message {n} is not an object (got {type(msg).__name__})")
        role = msg.get("role")
        if role is None:
            raise BodyError(f"message {n} has no role")
        if role not in ROLES:
            raise BodyError(
                f"message {n} has role {_short(role)}; expected one of {', '.join(ROLES)}"
            )
        _check_content(n, msg.get("content"))


def _check_content(n: int, content: Any) -> None:
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise BodyError(
            f"message {n} has content of type {type(content).__name__}; "
            "expected text or a list of content parts"
        )
    for m, part in enumerate(content, 1):
        if not isinstance(part, dict):
            raise BodyError(
                f"message {n}, content part {m} is not an object (got {type(part).__name__})"
            )
        if part.get("type") in ("text", "input_text", "output_text") and not isinstance(
            part.get("text", ""), str
        ):
            raise BodyError(f"message {n}, content part {m} has non-text `text`")


def number_param(name: str, value: Any) -> float | int | None:
    """A sampling parameter, checked against its range; None when absent or empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    low, high, whole = NUMBER_RANGES[name]
    number = _as_number(name, value)
    if whole and number != int(number):
        raise BodyError(f"{name} must be a whole number (got {_short(value)})")
    if not low <= number <= high:
        raise BodyError(f"{name} must be between {low:g} and {high:g} (got {_short(value)})")
    return int(number) if whole else number


def max_output_tokens(body: dict[str, Any]) -> int | None:
    """The first of max_output_tokens / max_completion_tokens / max_tokens that is set."""
    for name in MAX_TOKEN_FIELDS:
        value = body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        number = _as_number(name, value)
        if number != int(number):
            raise BodyError(f"{name} must be a whole number (got {_short(value)})")
        if not 1 <= number <= MAX_OUTPUT_TOKENS_LIMIT:
            raise BodyError(
                f"{name} must be between 1 and {MAX_OUTPUT_TOKENS_LIMIT} (got {_short(value)})"
            )
        return int(number)
    return None


def _as_number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise BodyError(f"{name} must be a number (got {_short(value)})")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise BodyError(f"{name} must be a number (got {_short(value)})") from None
    if not math.isfinite(number):
        raise BodyError(f"{name} must be a finite number (got {_short(value)})")
    return number


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
