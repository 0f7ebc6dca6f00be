"""Streaming chats against an Open WebUI API (`orsim serve-host`, or a real Open WebUI).

Each user posts streaming `/api/chat/completions` requests the way Open WebUI's API clients do,
reads the SSE answer as it arrives, and checks it (loadtests/streamcheck.py). Besides the
`chat` request row (time = the whole chat; failures named by kind: crosstalk, incomplete,
garbled, timeout, http_<status>, "error: <title>" ...), it reports these custom rows:

    TTFT   first token          request start -> first token of the answer (ms)
    LAG    token delivery       per token: arrival at the client - send time at the fake
                                OpenRouter (ms); coalescing and queueing show up here
    TPS    tokens/s per stream  stored in the response-time column (a rate, not ms)
    BUSY   busy answer          time until the pipe's "Server busy" answer (ms)
    FIRST  admitted / busy      outcome of each user's first chat (the step shape's wave)

Run by `orsim load` (loadtests/README in docs/load-testing.md), or by hand:

    locust -f loadtests/chat.py --host http://127.0.0.1:PORT --chat-model or.openai.gpt-4o-mini
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

from locust import FastHttpUser, events, task

sys.path.insert(0, os.path.dirname(__file__))  # streamcheck beside this file (also on workers)
from streamcheck import StreamCheck, load_prompt, new_nonce

CHAT_PATH = "/api/chat/completions"


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument(
        "--chat-model", default="or.openai.gpt-4o-mini", help="Model id to chat with"
    )
    parser.add_argument(
        "--chat-token",
        default=os.environ.get("ORSIM_LOAD_TOKEN", "sk-orsim-admin"),
        is_secret=True,
        help="Bearer token (env ORSIM_LOAD_TOKEN)",
    )
    parser.add_argument("--chat-tokens", type=int, default=100, help="Tokens per answer")
    parser.add_argument("--chat-long-share", type=float, default=0.0, help="Share of long answers")
    parser.add_argument(
        "--chat-long-tokens", type=int, default=1000, help="Tokens of a long answer"
    )
    parser.add_argument(
        "--chat-upstream",
        default="tps=40 ttft=0.3 jitter=0.2",
        help="Fake OpenRouter settings for each answer: physics (tps, ttft, jitter) and the "
        "shares of 429 (r429) and 503 (fail) answers, space-separated key=value",
    )
    parser.add_argument("--chat-wait", type=float, default=0.5, help="Max seconds between chats")
    parser.add_argument("--chat-timeout", type=float, default=60.0, help="Idle read timeout (s)")
    # shapes (loadtests/shape_*.py)
    parser.add_argument("--ramp-max", type=int, default=600, help="Ramp: final user count")
    parser.add_argument("--ramp-step", type=int, default=50, help="Ramp: users added per level")
    parser.add_argument("--ramp-every", type=float, default=20.0, help="Ramp: seconds per level")
    parser.add_argument("--step-users", type=int, default=90, help="Step: users arriving at once")
    parser.add_argument("--step-hold", type=float, default=25.0, help="Step: seconds to hold")


class ChatUser(FastHttpUser):
    """One person chatting: a streamed answer, a short pause, the next chat."""

    connection_timeout = 10.0

    def wait_time(self) -> float:
        return random.uniform(0.0, self.environment.parsed_options.chat_wait)

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.network_timeout = opts.chat_timeout
        self.client.network_timeout = opts.chat_timeout
        self.first = True

    def _fire(self, kind: str, name: str, value: float, failure: str | None = None) -> None:
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=value,
            response_length=0,
            exception=Exception(failure) if failure else None,
            context={},
        )

    @task
    def chat(self) -> None:
        opts = self.environment.parsed_options
        tokens = opts.chat_tokens
        if opts.chat_long_share and random.random() < opts.chat_long_share:
            tokens = opts.chat_long_tokens
        nonce = new_nonce()
        body = {
            "model": opts.chat_model,
            "stream": True,
            "messages": [
                {"role": "user", "content": load_prompt(nonce, tokens, opts.chat_upstream)}
            ],
        }
        headers = {"Authorization": f"Bearer {opts.chat_token}", "Accept": "text/event-stream"}
        check = StreamCheck(nonce, tokens)
        started = time.perf_counter()
        with self.client.post(
            CHAT_PATH, json=body, headers=headers, stream=True, catch_response=True, name="chat"
        ) as resp:
            failure = self._read(resp, check)
            elapsed = (time.perf_counter() - started) * 1000.0
            resp.request_meta["response_time"] = elapsed
            verdict = check.verdict()
            if failure is None and verdict.kind == "busy":
                resp.request_meta["name"] = "chat (busy)"
                self._fire("BUSY", "busy answer", elapsed)
                resp.success()
            elif failure is None and verdict.ok:
                resp.success()
            else:
                failure = failure or verdict.kind
                detail = verdict.detail or failure
                print(f"chat {nonce} failed: {failure}: {detail[:200]}", file=sys.stderr)
                resp.failure(failure)
        if self.first:
            self.first = False
            self._fire("FIRST", "busy" if verdict.kind == "busy" else "admitted", elapsed)
        ttft = check.ttft_ms()
        if ttft is not None:
            self._fire("TTFT", "first token", ttft)
        rate = check.tokens_per_second()
        if rate is not None:
            self._fire("TPS", "tokens/s per stream", rate)

    def _read(self, resp, check: StreamCheck) -> str | None:
        """Read the SSE answer into `check`; a failure kind, or None when it ended cleanly."""
        error = getattr(resp, "error", None) or resp.request_meta.get("exception")
        if resp.status_code == 0 or error is not None:
            return _error_kind(error)
        if resp.status_code != 200:
            return f"http_{resp.status_code}"
        raw = resp._response  # geventhttpclient's response: readline with our separator
        try:
            while True:
                line = raw.readline(b"\n")
                if not line:  # Open WebUI ends with `data: [DONE]` and no newline
                    line = raw.read()
                    if not line.startswith(b"data:"):
                        return "cut (no [DONE])"
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    return None
                arrived = time.time()
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    return "bad_sse_json"
                if chunk.get("error"):
                    check.text.append(json.dumps(chunk["error"])[:200])
                    return "stream_error"
                for choice in chunk.get("choices") or ():
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        for lag in check.feed(content, arrived):
                            self._fire("LAG", "token delivery", lag)
        except Exception as exc:  # socket timeout, reset: the failure, by kind
            return _error_kind(exc)


def _error_kind(exc: BaseException | None) -> str:
    name = type(exc).__name__.lower() if exc is not None else "unknown"
    if "timeout" in name:
        return "timeout"
    if "refused" in name or "reset" in name or "closed" in name or "connection" in name:
        return f"connection ({type(exc).__name__})"
    return f"client ({type(exc).__name__})"
