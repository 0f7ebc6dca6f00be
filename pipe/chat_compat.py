"""OpenRouter's `/chat/completions`, spoken for the fallback: a `ResponsesRequest` becomes a
chat body, and chat chunks (or a `chat.completion`) become Responses events, so everything
after the HTTP call (accumulation, coalescing, the tool loop, usage) is the same code.

Only used when `/responses` is refused for a model (see `fallback.py`).
"""

from __future__ import annotations

from typing import Any

from .wire import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputAudio,
    InputFile,
    InputImage,
    InputMessage,
    InputText,
    ResponsesRequest,
)

CHAT_TEXT_ID = "msg_chat_fallback"
CHAT_REASONING_ID = "rs_chat_fallback"
_SAMPLING = ("temperature", "top_p", "top_k", "frequency_penalty", "presence_penalty")


def _chat_part(part: Any) -> dict[str, Any]:
    if isinstance(part, InputText):
        return {"type": "text", "text": part.text}
    if isinstance(part, InputImage):
        return {"type": "image_url", "image_url": {"url": part.image_url, "detail": part.detail}}
    if isinstance(part, InputAudio):
        return {"type": "input_audio", "input_audio": part.input_audio.model_dump()}
    if isinstance(part, InputFile):
        file = {k: v for k, v in part.model_dump().items() if k != "type" and v is not None}
        return {"type": "file", "file": file}
    return {"type": "text", "text": ""}


def chat_messages(request: ResponsesRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    for item in request.input:
        if isinstance(item, InputMessage):
            content: Any = item.content
            if not isinstance(content, str):
                content = [_chat_part(p) for p in content]
            messages.append({"role": item.role, "content": content})
        elif isinstance(item, FunctionCallItem):
            call = {
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": item.arguments},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            elif last is not None and last["role"] == "assistant" and not last.get("tool_calls"):
                last["tool_calls"] = [call]
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif isinstance(item, FunctionCallOutputItem):
            messages.append({"role": "tool", "tool_call_id": item.call_id, "content": item.output})
        # reasoning items replayed for /responses have no chat equivalent
    return messages


def chat_body(request: ResponsesRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": chat_messages(request),
        "stream": request.stream,
    }
    if request.stream:
        body["stream_options"] = {"include_usage": True}
    for name in _SAMPLING:
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.max_output_tokens is not None:
        body["max_tokens"] = request.max_output_tokens
    if request.reasoning is not None:
        body["reasoning"] = request.reasoning.model_dump(exclude_none=True, exclude={"summary"})
    if request.text is not None and request.text.format:
        fmt = dict(request.text.format)
        if fmt.get("type") == "json_schema":
            schema = {k: v for k, v in fmt.items() if k != "type"}
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        else:
            body["response_format"] = fmt
    if request.tools:
        body["tools"] = [
            {"type": "function", "function": t.model_dump(exclude_none=True, exclude={"type"})}
            for t in request.tools
        ]
        choice = request.tool_choice
        if isinstance(choice, dict) and choice.get("name"):
            choice = {"type": "function", "function": {"name": choice["name"]}}
        if choice is not None:
            body["tool_choice"] = choice
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.user:
        body["user"] = request.user
    if request.session_id:
        body["session_id"] = request.session_id
    return body


def responses_usage(usage: Any) -> dict[str, Any] | None:
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    out: dict[str, Any] = {
        "input_tokens": usage.get("prompt_tokens") or 0,
        "output_tokens": usage.get("completion_tokens") or 0,
        "total_tokens": usage.get("total_tokens") or 0,
        "input_tokens_details": {"cached_tokens": prompt.get("cached_tokens") or 0},
        "output_tokens_details": {"reasoning_tokens": completion.get("reasoning_tokens") or 0},
    }
    if isinstance(usage.get("cost"), int | float):
        out["cost"] = usage["cost"]
    return out


class ChatStreamAdapter:
    """Chat chunks (parsed JSON) in, Responses event dicts out; `finish()` at the end."""

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self._started = False
        self._text: list[str] = []
        self._calls: dict[int, dict[str, str]] = {}
        self._finish_reason = ""
        self._usage: dict[str, Any] | None = None

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        error = chunk.get("error")
        if isinstance(error, dict):
            return [{"type": "error", "code": error.get("code"), "message": error.get("message")}]
        if not self._started:
            self._started = True
            self.id = str(chunk.get("id") or "chatcmpl")
            self.model = str(chunk.get("model") or "")
            out.append({"type": "response.created", "response": self._response("in_progress")})
        if chunk.get("usage"):
            self._usage = responses_usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or choice.get("message") or {}
            reasoning = delta.get("reasoning") or delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                out.append(_delta("response.reasoning_text.delta", CHAT_REASONING_ID, reasoning))
            if isinstance(delta.get("content"), str) and delta["content"]:
                self._text.append(delta["content"])
                out.append(_delta("response.output_text.delta", CHAT_TEXT_ID, delta["content"]))
            for n, call in enumerate(delta.get("tool_calls") or []):
                if "message" in choice and isinstance(call, dict):  # whole calls, no index
                    call = {**call, "index": n}
                self._add_call(call)
            if choice.get("finish_reason"):
                self._finish_reason = str(choice["finish_reason"])
        return out

    def _add_call(self, call: Any) -> None:
        if not isinstance(call, dict):
            return
        slot = self._calls.setdefault(
            int(call.get("index") or 0), {"id": "", "name": "", "arguments": ""}
        )
        fn = call.get("function") or {}
        slot["id"] = slot["id"] or str(call.get("id") or "")
        slot["name"] = slot["name"] or str(fn.get("name") or "")
        slot["arguments"] += str(fn.get("arguments") or "")

    def finish(self) -> list[dict[str, Any]]:
        """The closing events: each tool call done, then the terminal response."""
        if not self._started:
            return []
        out = []
        for n, call in enumerate(self.output()[1:], 1):
            out.append({"type": "response.output_item.done", "output_index": n, "item": call})
        incomplete = self._finish_reason == "length"
        kind = "response.incomplete" if incomplete else "response.completed"
        response = self._response("incomplete" if incomplete else "completed")
        response["output"] = self.output()
        response["usage"] = self._usage
        if incomplete:
            response["incomplete_details"] = {"reason": "max_output_tokens"}
        out.append({"type": kind, "response": response})
        return out

    def output(self) -> list[dict[str, Any]]:
        message = {
            "type": "message",
            "id": CHAT_TEXT_ID,
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "".join(self._text), "annotations": []}],
        }
        calls = [
            {
                "type": "function_call",
                "id": f"fc_{call['id'] or n}",
                "call_id": call["id"] or f"call_{n}",
                "name": call["name"],
                "arguments": call["arguments"] or "{}",
                "status": "completed",
            }
            for n, call in sorted(self._calls.items())
        ]
        return [message, *calls]

    def _response(self, status: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "response",
            "model": self.model,
            "status": status,
            "output": [],
        }


def _delta(kind: str, item_id: str, text: str) -> dict[str, Any]:
    return {"type": kind, "item_id": item_id, "output_index": 0, "content_index": 0, "delta": text}


def completion_to_response(payload: dict[str, Any]) -> dict[str, Any]:
    """A non-streaming `chat.completion` as a Responses result object."""
    adapter = ChatStreamAdapter()
    adapter.feed(payload)
    events = adapter.finish()
    if not events:
        return {"status": "failed", "output": [], "error": {"message": "empty chat completion"}}
    response: dict[str, Any] = events[-1]["response"]
    return response
