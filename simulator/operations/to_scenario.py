"""`orsim logs to-scenario ARCHIVE`: a session-log archive becomes a cassette (every upstream
attempt, its recorded bytes and timing) plus a scenario that replays the conversation offline
through the fake OpenRouter and the fake host, expecting what the user saw then.

So a user's report ("the answer stopped half-way yesterday") becomes a scenario in one command;
change the expectations to what should have happened and it is a failing regression test.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import yaml

from simulator.cassettes.format import (
    Cassette,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    save_cassette,
    stream_response,
)

from .archives import sse_events

_ERROR_TITLE = re.compile(r"^### ⚠️ (.+)$", re.M)
# Valves that would make the replay write archives, records or talk to another machine.
_NOT_REPLAYED = {"SESSION_LOG_ENABLED", "SESSION_LOG_DIR", "USAGE_RECORDS_ENABLED"}


def _chunk_bytes(chunk: dict[str, Any]) -> bytes:
    if "text" in chunk:
        return chunk["text"].encode("utf-8")
    return base64.b64decode(chunk["b64"])


def build_cassette(doc: dict[str, Any], name: str) -> Cassette:
    interactions = []
    for attempt in doc.get("attempts") or []:
        path = "/api/v1/" + attempt.get("url", "/responses").rstrip("/").rsplit("/", 1)[-1]
        request = RecordedRequest(method="POST", path=path, body=attempt.get("request"))
        status = attempt.get("status") or 200
        if attempt.get("chunks"):
            response = stream_response(
                status,
                [("content-type", "text/event-stream")],
                [(c["offset"], _chunk_bytes(c)) for c in attempt["chunks"]],
            )
        else:
            response = RecordedResponse(
                status=status,
                headers=[("content-type", "application/json")],
                body=attempt.get("body") if attempt.get("body") is not None else {},
            )
        interactions.append(Interaction(request=request, response=response))
    ids = doc.get("ids") or {}
    return Cassette(
        name=name,
        description=(
            f"Recorded by the pipe's session log (request {ids.get('request_id')}, "
            f"outcome {doc.get('outcome')}); secrets redacted before it was written."
        ),
        synthesised=False,
        source="session-log archive",
        interactions=interactions,
    )


def _content_of(message: dict[str, Any]) -> Any:
    return message.get("content") if message.get("content") is not None else ""


def _expectations(doc: dict[str, Any], calls: int) -> dict[str, Any]:
    visible = (doc.get("visible") or {}).get("content") or ""
    expect: dict[str, Any] = {"upstream_calls": calls}
    title = _ERROR_TITLE.search(visible)
    if doc.get("outcome") == "error" and title:
        expect["error_contains"] = [title.group(1).strip()]
        before = visible[: title.start()].strip()
        if before:
            expect["content_contains"] = [before[:200]]
    elif doc.get("outcome") == "ok":
        expect["content"] = visible
    return expect


def _stream_step(attempt: dict[str, Any], cassette_name: str, index: int) -> dict[str, Any]:
    step: dict[str, Any] = {"cassette": f"cassettes/{cassette_name}.yaml#{index}"}
    if attempt.get("chunks"):
        events = [d for _, d in sse_events(attempt) if isinstance(d, dict)]
        terminal = {"response.completed", "response.incomplete", "response.failed"}
        if not any(e.get("type") in terminal or e.get("type") == "error" for e in events):
            # The stream broke off: replay its events paced (so they reach the user as they
            # did), then cut the connection where it was cut.
            step["fault"] = f"disconnect;after={len(events)}"
            step["physics"] = {"tps": 100}
    return step


def build_scenario(doc: dict[str, Any], cassette_name: str) -> dict[str, Any]:
    chat = doc.get("chat") or {}
    messages = [m for m in chat.get("messages") or [] if isinstance(m, dict)]
    attempts = doc.get("attempts") or []
    first_request = attempts[0].get("request") if attempts else {}
    model = first_request.get("model") if isinstance(first_request, dict) else None
    scenario: dict[str, Any] = {
        "name": f"replay of request {(doc.get('ids') or {}).get('request_id')}",
        "description": (
            f"From a session-log archive: outcome {doc.get('outcome')}"
            + (f" ({doc['error_kind']})" if doc.get("error_kind") else "")
            + ". Expectations are what the user saw; edit them to what should have happened."
        ),
        "model": model or "openai/gpt-4o-mini",
        "valves": {k: v for k, v in (doc.get("valves") or {}).items() if k not in _NOT_REPLAYED},
        "turns": [],
    }
    system = [m for m in messages if m.get("role") == "system"]
    if system and isinstance(_content_of(system[0]), str):
        scenario["system"] = _content_of(system[0])
    talk = [m for m in messages if m.get("role") in ("user", "assistant")]
    last_user = max((i for i, m in enumerate(talk) if m.get("role") == "user"), default=-1)
    for i, message in enumerate(talk[:last_user]):  # the earlier turns, answered as they were
        if message.get("role") == "user":
            answer = (
                talk[i + 1] if i + 1 < len(talk) and talk[i + 1].get("role") == "assistant" else {}
            )
            text = _content_of(answer) or "(no answer)"
            scenario["turns"].append(
                {
                    "user": _content_of(message),
                    "upstream": [{"script": {"text": text}}],
                    "expect": {"content": text},
                }
            )
    turn: dict[str, Any] = {
        "user": _content_of(talk[last_user]) if last_user >= 0 else "",
        "stream": bool(chat.get("stream", True)),
        "upstream": [_stream_step(a, cassette_name, n) for n, a in enumerate(attempts)],
        "expect": _expectations(doc, len(attempts)),
    }
    scenario["turns"].append(turn)
    return scenario


def write_scenario(doc: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    request_id = (doc.get("ids") or {}).get("request_id") or "request"
    name = f"session-{re.sub(r'[^A-Za-z0-9_-]', '_', request_id)}"
    cassette_path = out / "cassettes" / f"{name}.yaml"
    save_cassette(build_cassette(doc, name), cassette_path)
    scenario_path = out / f"{name}.scenario.yaml"
    text = yaml.safe_dump(
        {"scenarios": [build_scenario(doc, name)]}, sort_keys=False, allow_unicode=True
    )
    scenario_path.write_text(text, encoding="utf-8")
    return cassette_path, scenario_path
