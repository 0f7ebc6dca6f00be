"""Background tasks (title, tags, follow-ups, ...) as Open WebUI 0.12.4 runs them on a pipe.

The pipe gets `{model, messages: [one user prompt holding the chat history], stream: False}`
(plus `max_tokens` for titles and emoji) with `__task__` and `__task_body__`; the answer is
parsed from the first `{` to the last `}`. The prompts are Open WebUI 0.12.4's default
templates, rendered as it renders them (`task_prompts.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from simulator.host import task_prompts

# routers/tasks.py endpoint name -> (TASKS constant, the JSON key the parser reads, history size)
TASK_ENDPOINTS: dict[str, tuple[str, str, int]] = {
    "title": ("title_generation", "title", 2),
    "tags": ("tags_generation", "tags", 6),
    "follow_up": ("follow_up_generation", "follow_ups", 6),
    "queries": ("query_generation", "queries", 6),
    "emoji": ("emoji_generation", "emoji", 1),
    "auto": ("autocomplete_generation", "text", 6),
}
TASK_NAMES = {name: endpoint for endpoint, (name, _, _) in TASK_ENDPOINTS.items()}


class UnknownTaskError(ValueError):
    pass


def endpoint_of(task: str) -> str:
    """Accept an endpoint name (`title`) or a TASKS constant (`title_generation`)."""
    if task in TASK_ENDPOINTS:
        return task
    if task in TASK_NAMES:
        return TASK_NAMES[task]
    known = ", ".join(sorted(TASK_ENDPOINTS))
    raise UnknownTaskError(f"unknown task {task!r}; known: {known}")


def task_body(
    task: str,
    model: str,
    messages: list[dict[str, Any]],
    *,
    form: dict[str, Any] | None = None,
    user: dict[str, Any] | None = None,
    model_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The body a pipe receives for a task call (no metadata: that is split off): Open WebUI's
    own prompt for the task and, for titles and emoji, its `max_tokens`."""
    endpoint = endpoint_of(task)
    form = {"messages": messages, **(form or {})}
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": task_prompts.render(endpoint, form, user)}],
        "stream": False,
    }
    limit = task_prompts.max_tokens(endpoint, model_info)
    if limit is not None:
        body["max_tokens"] = limit
    return body


@dataclass
class TaskResult:
    task: str
    value: Any  # the parsed value (title str, list of tags, ...) or None
    raw_text: str | None
    error: str | None = None


def response_text(response: Any) -> str | None:
    """`choices[0].message.content`, or `reasoning_content` when content is empty; str as is."""
    if isinstance(response, str):
        return response
    if not isinstance(response, dict):
        return None
    try:
        message = response["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return None
    return message.get("content") or message.get("reasoning_content") or None


def parse_task_output(task: str, response: Any, messages: list[dict[str, Any]]) -> TaskResult:
    """Parse as the middleware does; titles fall back to the first user message."""
    endpoint = endpoint_of(task)
    key = TASK_ENDPOINTS[endpoint][1]
    text = response_text(response)
    value: Any = None
    error = None
    if text is None:
        error = "no text in the task answer"
    else:
        snippet = text[text.find("{") : text.rfind("}") + 1]
        try:
            value = json.loads(snippet).get(key)
        except (ValueError, AttributeError) as exc:
            error = f"task answer is not JSON with {key!r}: {exc}"
    if endpoint == "title" and not value:
        value = _first_user_text(messages)
    if endpoint == "follow_up" and isinstance(value, list):
        value = [str(v) for v in value if 1 <= len(str(v)) <= 400][:5]
    return TaskResult(task=TASK_ENDPOINTS[endpoint][0], value=value, raw_text=text, error=error)


def _first_user_text(messages: list[dict[str, Any]]) -> str | None:
    for message in messages:
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return None
