"""Background tasks (title, tags, follow-ups, ...) as Open WebUI 0.12.4 runs them on a pipe.

The pipe gets `{model, messages: [one user prompt holding the chat history], stream: False}`
with `__task__` and `__task_body__`; the answer is parsed from the first `{` to the last `}`.
The prompt texts here are close to Open WebUI's defaults, not byte-identical: pipes must not
depend on the prompt wording.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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

_INSTRUCTIONS = {
    "title": "Generate a concise, 3-5 word title with an emoji summarizing the chat history.\n"
    'JSON format: { "title": "your concise title here" }',
    "tags": "Generate 1-3 broad tags categorizing the main themes of the chat history.\n"
    'JSON format: { "tags": ["tag1", "tag2", "tag3"] }',
    "follow_up": "Suggest 3-5 relevant follow-up questions the user might naturally ask next.\n"
    'JSON format: { "follow_ups": ["Question 1?", "Question 2?", "Question 3?"] }',
    "queries": "Generate search queries for the chat history.\n"
    'JSON format: { "queries": ["query1", "query2"] }',
    "emoji": 'Reply with a single emoji that fits the message.\nJSON format: { "emoji": "X" }',
    "auto": 'Continue the user\'s text.\nJSON format: { "text": "continuation" }',
}


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


def render_history(messages: list[dict[str, Any]], last: int) -> str:
    """`{{MESSAGES:END:n}}`: the last n messages as `ROLE: text` lines."""
    lines = []
    for message in messages[-last:]:
        content = message.get("content", "")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        lines.append(f"{str(message.get('role', 'user')).upper()}: {content}")
    return "\n".join(lines)


def task_prompt(task: str, messages: list[dict[str, Any]]) -> str:
    endpoint = endpoint_of(task)
    history = render_history(messages, TASK_ENDPOINTS[endpoint][2])
    return f"### Task:\n{_INSTRUCTIONS[endpoint]}\n### Chat History:\n<chat_history>\n{history}\n</chat_history>"


def task_body(task: str, model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The body a pipe receives for a task call (no metadata: that is split off)."""
    return {
        "model": model,
        "messages": [{"role": "user", "content": task_prompt(task, messages)}],
        "stream": False,
    }


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
