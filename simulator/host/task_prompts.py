"""The task prompt and parameters Open WebUI 0.12.4 sends a pipe (`routers/tasks.py`,
`utils/task.py`): its default templates rendered with the same variables, and the per-task
`max_tokens` (title: the task model's `params.max_tokens`, else 1000; emoji: 4; others none).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from simulator.host import task_templates as T

# endpoint -> (template, max_tokens or None)
TASK_PROMPTS: dict[str, tuple[str, int | None]] = {
    "title": (T.TITLE, 1000),
    "tags": (T.TAGS, None),
    "follow_up": (T.FOLLOW_UP, None),
    "queries": (T.QUERIES, None),
    "emoji": (T.EMOJI, 4),
    "auto": (T.AUTOCOMPLETE, None),
}
DISABLED_BY_DEFAULT = {"auto": "Autocompletion generation"}  # ENABLE_AUTOCOMPLETE_GENERATION
FOLLOW_UP_KEEP = 4
FOLLOW_UP_MAX_CHARS = 1000

_PROMPT = re.compile(
    r"(?i){{prompt}}|{{prompt:start:(\d+)}}|{{prompt:end:(\d+)}}|{{prompt:middletruncate:(\d+)}}"
)
_MESSAGES = re.compile(
    r"\{\{MESSAGES(?:\|(\w+:\d+))?\}\}|\{\{MESSAGES:START:(\d+)(?:\|(\w+:\d+))?\}\}"
    r"|\{\{MESSAGES:END:(\d+)(?:\|(\w+:\d+))?\}\}"
    r"|\{\{MESSAGES:MIDDLETRUNCATE:(\d+)(?:\|(\w+:\d+))?\}\}"
)


def content_of(message: dict[str, Any]) -> str | None:
    """`get_content_from_message`: a string, or the first text part of a list."""
    content = message.get("content")
    if isinstance(content, list):
        for item in content:
            if isinstance(item, dict) and item.get("type") == "text":
                return item.get("text")
        return None
    return content or None


def last_user_message(messages: list[dict[str, Any]]) -> str | None:
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_of(message)
    return None


def truncate(text: str, max_chars: int, mode: str = "middletruncate") -> str:
    if max_chars <= 0:
        return ""
    if not text or len(text) <= max_chars:
        return text
    if mode == "start":
        return text[:max_chars]
    if mode == "end":
        return text[-max_chars:]
    half = max_chars // 2
    return f"{text[:half]}...{text[-(max_chars - half) :]}"


def _filtered(messages: list[dict[str, Any]], spec: str | None) -> list[dict[str, Any]]:
    if not spec:
        return messages
    mode, _, size = spec.partition(":")
    if mode.lower() not in ("middletruncate", "start", "end") or not size.isdigit():
        return messages
    out = []
    for message in messages:
        if isinstance(message.get("content"), str):
            message = {**message, "content": truncate(message["content"], int(size), mode.lower())}
        out.append(message)
    return out


def replace_prompt(template: str, prompt: str) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(0).lower() == "{{prompt}}":
            return prompt
        start, end, middle = match.group(1), match.group(2), match.group(3)
        if start is not None:
            return prompt[: int(start)]
        if end is not None:
            return prompt[-int(end) :]
        size = int(middle)
        if len(prompt) <= size:
            return prompt
        return f"{prompt[: math.ceil(size / 2)]}...{prompt[-math.floor(size / 2) :]}"

    return _PROMPT.sub(one, template)


def replace_messages(template: str, messages: list[dict[str, Any]] | None) -> str:
    def one(match: re.Match[str]) -> str:
        if messages is None:
            return ""
        bare, start, s_f, end, e_f, middle, m_f = match.groups()
        if start is not None:
            selected, spec = messages[: int(start)], s_f
        elif end is not None:
            selected, spec = messages[-int(end) :], e_f
        elif middle is not None:
            size = int(middle)
            half = size // 2
            if len(messages) <= size:
                selected = messages
            else:
                tail = messages[-half:] if size % 2 == 0 else messages[-(half + 1) :]
                selected = messages[:half] + tail
            spec = m_f
        else:
            selected, spec = messages, bare
        return "\n".join(
            f"{str(m['role']).upper()}: {content_of(m)}" for m in _filtered(selected, spec)
        )

    return _MESSAGES.sub(one, template)


def replace_user(template: str, user: dict[str, Any] | None) -> str:
    now = datetime.now()
    date, time_ = now.strftime("%Y-%m-%d"), now.strftime("%I:%M:%S %p")
    user = user or {}
    info = user.get("info") or {}
    values = {
        "{{CURRENT_DATE}}": date,
        "{{CURRENT_TIME}}": time_,
        "{{CURRENT_DATETIME}}": f"{date} {time_}",
        "{{CURRENT_WEEKDAY}}": now.strftime("%A"),
        "{{USER_NAME}}": str(user.get("name")) if user else "Unknown",
        "{{USER_EMAIL}}": str(user.get("email")) if user else "Unknown",
        "{{USER_BIO}}": str(user.get("bio")) if user else "Unknown",
        "{{USER_GENDER}}": str(user.get("gender")) if user else "Unknown",
        "{{USER_BIRTH_DATE}}": str(user.get("date_of_birth")) if user else "Unknown",
        "{{USER_AGE}}": "None" if user else "Unknown",
        "{{USER_LOCATION}}": str(info.get("location")) if user else "Unknown",
        "{{USER_GROUPS}}": "",
    }
    for key, value in values.items():
        template = template.replace(key, value)
    return template


def _follow_up_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The default follow-up template sees the first user message and the last four, each
    cut to 1000 characters."""
    start = max(0, len(messages) - FOLLOW_UP_KEEP)
    first = next((i for i, m in enumerate(messages) if m.get("role") == "user"), None)
    picked = ([messages[first]] if first is not None and first < start else []) + messages[start:]
    out = []
    for message in picked:
        content = message.get("content")
        if isinstance(content, list):
            text = "\n".join(
                i["text"]
                for i in content
                if isinstance(i, dict)
                and i.get("type") == "text"
                and isinstance(i.get("text"), str)
            )
        else:
            text = content_of(message) or ""
        if len(text) > FOLLOW_UP_MAX_CHARS:
            text = truncate(text, FOLLOW_UP_MAX_CHARS - 3)
        out.append({**message, "content": text})
    return out


def render(endpoint: str, form: dict[str, Any], user: dict[str, Any] | None) -> str:
    """The one user message a task call carries."""
    template = TASK_PROMPTS[endpoint][0]
    messages = form.get("messages") or []
    if endpoint == "emoji":
        return replace_user(replace_prompt(template, str(form.get("prompt") or "")), user)
    if endpoint == "auto":
        template = template.replace("{{TYPE}}", str(form.get("type") or ""))
        template = replace_prompt(template, str(form.get("prompt") or ""))
        return replace_user(replace_messages(template, form.get("messages")), user)
    if endpoint == "follow_up":
        messages = _follow_up_messages(messages)
    template = replace_prompt(template, last_user_message(messages) or "")
    return replace_user(replace_messages(template, messages), user)


def max_tokens(endpoint: str, model: dict[str, Any] | None) -> int | None:
    default = TASK_PROMPTS[endpoint][1]
    if endpoint == "title":
        params = ((model or {}).get("info") or {}).get("params") or {}
        return params.get("max_tokens", default)
    return default
