"""Answer the other mode than the one recorded: JSON from a stream, a stream from JSON.

* A client asks for JSON and the recording is a 200 stream: the answer is the `response` object
  of the terminal event (`response.completed`, `.incomplete` or `.failed`). A stream with no
  terminal event (cut off, or only a mid-stream `error` event) becomes a 502 in OpenRouter's
  generic error envelope carrying the error event's message.
* A client asks for a stream and the recording is a 200 JSON `Response`: the answer is a
  canonical event sequence built from it (created, in_progress, each output item with its parts
  and one delta, the terminal event, `[DONE]`).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from simulator.cassettes.sse import decode_events

TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def json_from_stream(raw: bytes) -> tuple[int, Any]:
    """(status, body) for a non-streaming client, from a recorded stream's bytes."""
    message = "the stream ended without a terminal event"
    for event in decode_events(raw):
        if not isinstance(event, dict):
            continue
        if event.get("type") in TERMINAL and isinstance(event.get("response"), dict):
            return 200, event["response"]
        if event.get("type") in {"error", "response.error"}:
            nested = event.get("error") if isinstance(event.get("error"), dict) else event
            message = str(nested.get("message") or message)
    return 502, {"error": {"code": 502, "message": message}}


def _frame(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event, ensure_ascii=False).encode("utf-8") + b"\n\n"


def stream_from_json(response: dict[str, Any]) -> bytes:
    """A canonical SSE stream (bytes, ending in `data: [DONE]`) for a JSON `Response` object."""
    events: list[dict[str, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **fields})

    start = copy.deepcopy(response)
    start.update(status="in_progress", output=[], usage=None)
    emit("response.created", response=start)
    emit("response.in_progress", response=start)
    for index, item in enumerate(response.get("output") or []):
        item_id = item.get("id", f"item_{index}")
        kind = item.get("type")
        skeleton = copy.deepcopy(item)
        skeleton["status"] = "in_progress"
        if kind == "message":
            skeleton["content"] = []
        elif kind == "function_call":
            skeleton["arguments"] = ""
        elif kind == "reasoning":
            skeleton["summary"] = []
        emit("response.output_item.added", output_index=index, item=skeleton)
        ids = {"item_id": item_id, "output_index": index}
        if kind == "message":
            for ci, part in enumerate(item.get("content") or []):
                empty = {**part, "text": ""} if part.get("type") == "output_text" else part
                emit("response.content_part.added", **ids, content_index=ci, part=empty)
                if part.get("type") == "output_text":
                    text = part.get("text", "")
                    emit(
                        "response.output_text.delta",
                        **ids,
                        content_index=ci,
                        delta=text,
                        logprobs=[],
                    )
                    emit(
                        "response.output_text.done", **ids, content_index=ci, text=text, logprobs=[]
                    )
                emit("response.content_part.done", **ids, content_index=ci, part=part)
        elif kind == "function_call":
            arguments = item.get("arguments", "")
            emit("response.function_call_arguments.delta", **ids, delta=arguments)
            emit(
                "response.function_call_arguments.done",
                **ids,
                arguments=arguments,
                name=item.get("name"),
            )
        emit("response.output_item.done", output_index=index, item=item)
    status = response.get("status")
    terminal = {"incomplete": "response.incomplete", "failed": "response.failed"}
    emit(terminal.get(status, "response.completed"), response=response)
    return b"".join(_frame(e) for e in events) + b"data: [DONE]\n\n"
