"""One chat request from admission to the last chunk: the loop-ready orchestration.

`ChatRun` holds all per-request state (never the shared Pipe instance). A turn is one upstream
call: `stream_turn` yields Open WebUI chunks and leaves the turn's `RunOutcome` (with the
completed `function_call` and `reasoning` items) in `last_outcome`, so a tool loop can append
the calls' outputs to the request and run another turn. Retries happen only while nothing has
been shown to the user; the stream always ends with either a finish chunk or an error message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .admission import Admission, SlotLease
from .coalesce import REASONING, TEXT, DeltaCoalescer
from .errors import ErrorKind, PipeError, SupportContacts, new_error_id, render_error
from .guards import RequestGuard
from .holds import UpstreamGate
from .logs import RequestContext, bind_request, get_logger, request_scope
from .persist import TurnRecorder
from .pump import StreamPump
from .report import ChunkFactory, add_usage, final_status_line, served_by_fallback
from .stream import ResponseAccumulator, RunOutcome, status_event
from .stream_events import TERMINAL_BY_STATUS, AnyEvent, ResponseLifecycleEvent
from .toolloop import (
    ToolSession,
    chat_tool_calls,
    done_label,
    limit_notice,
    next_request,
    running_label,
)
from .tools import ToolResult
from .upstream import ResponsesClient, retry_delay
from .wire import OutputItem, ResponsesRequest, Usage

Emitter = Callable[[dict[str, Any]], Awaitable[Any]]
COALESCE_MAX_CHARS = 2048


@dataclass(frozen=True)
class RunPolicy:
    max_retries: int = 2
    backoff: float = 0.5
    max_wait: float = 30.0
    coalesce_window: float = 0.04
    show_progress: bool = True
    show_final_status: bool = True
    error_template: str = ""
    support: SupportContacts = field(default_factory=SupportContacts)


class ChatRun:
    def __init__(
        self,
        *,
        ctx: RequestContext,
        model_label: str,
        prepare: Callable[[Emitter], Awaitable[tuple[ResponsesClient, ResponsesRequest]]],
        admission: Admission,
        policy: RunPolicy,
        emitter: Emitter | None,
        tools: ToolSession | None = None,
        gate: UpstreamGate | None = None,
        recorder: TurnRecorder | None = None,
        guard: RequestGuard | None = None,
    ) -> None:
        self.ctx = ctx
        self._gate = gate  # cool-down windows shared by the workers
        self._recorder = recorder
        self.policy = policy
        self._prepare = prepare
        self._admission = admission
        self._emitter = emitter
        self._chunks = ChunkFactory(ctx.request_id, model_label)
        self._tools = tools
        self._shown = False  # anything shown in this request
        self._turn_shown = False  # anything shown by the current upstream call (retry rule)
        self._text_shown = False
        self._new_paragraph = False  # the next round's text starts a new paragraph
        self._usage: Usage | None = None  # summed over the rounds
        self._handed_calls = False  # pass-through: tool_calls went to Open WebUI
        self._started = time.monotonic()
        self._first_output: float | None = None
        self.last_outcome: RunOutcome | None = None
        self.failed = False  # the request ended with an error message
        self._lease: SlotLease | None = None  # upstream calls run in tasks it holds
        self._guard = guard  # the user's breaker
        self._streaming = True
        self._requested_model = ""  # what was asked for (a fallback may serve instead)

    # ------------------------------------------------------------------ helpers

    async def emit(self, event: dict[str, Any]) -> None:
        """Events are extras: a broken emitter must never break the answer."""
        if self._emitter is None:
            return
        try:
            await self._emitter(event)
        except Exception as exc:
            get_logger().warning(
                "event emitter failed (%s): %s", event.get("type"), type(exc).__name__
            )

    def error_markdown(self, error: PipeError) -> str:
        error_id = new_error_id()
        if self.ctx.journal is not None:
            self.ctx.journal.failed(error.kind.value)
        log = (
            get_logger().error
            if error.kind in (ErrorKind.INTERNAL, ErrorKind.CONFIG)
            else get_logger().warning
        )
        log(
            "request failed: error_id=%s kind=%s status=%s code=%r: %s",
            error_id,
            error.kind.value,
            error.status,
            error.code,
            error.message,
        )
        return render_error(
            error,
            error_id=error_id,
            template=self.policy.error_template,
            support=self.policy.support,
        )

    async def _retrying(self, attempt: int, error: PipeError) -> bool:
        """Sleep before another attempt, or return False when the error must be shown."""
        if self._turn_shown or attempt >= self.policy.max_retries:
            return False
        delay = retry_delay(attempt, error, self.policy.backoff, self.policy.max_wait)
        if delay is None:
            return False
        get_logger().info(
            "retrying after %s (attempt %d, waiting %.2fs)", error.kind.value, attempt + 1, delay
        )
        await asyncio.sleep(delay)
        return True

    # ------------------------------------------------------------------ the one loop

    def stream(self) -> AsyncIterator[dict[str, Any]]:
        """The generator handed to Open WebUI for a streaming chat request (the loop itself:
        every generator layer costs objects per request and per chunk)."""
        return self._run(streaming=True)

    async def complete(self, *, task: bool) -> str | dict[str, Any]:
        """Non-streaming chat and task requests: the same loop, its chunks folded into the final
        text (tasks: the answer, or "" on failure). In pass-through mode a round that ends in
        tool calls returns a `chat.completion` dict with `message.tool_calls` for Open WebUI."""
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        async for chunk in self._run(streaming=False):
            delta = chunk["choices"][0]["delta"]
            if "content" in delta:
                texts.append(delta["content"])
            calls.extend(delta.get("tool_calls") or ())
        if task:
            if self.failed:
                return ""
            outcome = self.last_outcome or RunOutcome()
            return outcome.text or outcome.reasoning
        if calls:
            return self._chunks.completion("".join(texts), calls, self._usage)
        return "".join(texts)

    async def _run(self, *, streaming: bool) -> AsyncIterator[dict[str, Any]]:
        """Admission, the rounds, the final status, then a finish chunk or an error message.
        A non-streaming upstream call is read as a stream of one batch, so retries, the tool
        loop and error handling are the same code for both."""
        self._streaming = streaming
        with request_scope(self.ctx):
            try:
                client, request = await self._prepare(self.emit)
                await self._emit_notices()
                self._requested_model = request.model
                if self._guard is not None:
                    await self._guard.check()
                async with self._admission.slot() as self._lease:
                    async for chunk in self._rounds(client, request):
                        yield chunk
                        bind_request(self.ctx)
                markers = await self._save_history()
                if markers:
                    yield self._chunks.text(markers)
                outcome = self.last_outcome or RunOutcome()
                await self._final_status(outcome)
                reason = "length" if outcome.incomplete_reason == "max_output_tokens" else "stop"
                if self._guard is not None:
                    await self._guard.record(None)
                yield self._chunks.finish(
                    self._usage, "tool_calls" if self._handed_calls else reason
                )
            except PipeError as error:
                if self._guard is not None:
                    await self._guard.record(error)
                yield await self._error_chunk(error)
            except Exception:  # the stream must end with a readable message, never hang
                get_logger().exception("unexpected error in the pipe")
                # The details are in the log (with the error id); Python's text is not for users.
                yield await self._error_chunk(
                    PipeError(ErrorKind.INTERNAL, "Something went wrong inside the pipe.")
                )

    async def _error_chunk(self, error: PipeError) -> dict[str, Any]:
        self.failed = True
        text = self.error_markdown(error)
        await self.emit(
            status_event("Error: " + error.kind.value.replace("_", " "), done=True, error=True)
        )
        return self._chunks.text(("\n\n" if self._shown else "") + text)

    async def _rounds(
        self, client: ResponsesClient, request: ResponsesRequest
    ) -> AsyncIterator[dict[str, Any]]:
        """Upstream calls until the model stops calling tools (the tool loop)."""
        rounds = 0
        while True:
            if self._recorder is not None:
                self._recorder.begin_round()
            async for chunk in self._turn(client, request):
                yield chunk
            outcome = self.last_outcome or RunOutcome()
            calls = outcome.function_calls
            if not calls or self._tools is None:
                self._record(outcome, [])
                return
            if self._tools.passthrough:  # Open WebUI runs them and calls the pipe again
                self._handed_calls = True
                self._record(outcome, None)
                markers = await self._save_history()  # before the calls leave the stream
                if markers:
                    yield self._chunks.text(markers)
                yield self._chunks.tool_calls(chat_tool_calls(calls))
                return
            if rounds >= self._tools.max_rounds:
                yield self._limit_chunk(calls, self._tools.max_rounds)
                return
            rounds += 1
            results = await self._run_tools(calls)
            self._record(outcome, results)
            request = next_request(request, outcome, results)
            self._new_paragraph = self._text_shown

    def _record(self, outcome: RunOutcome, results: list[ToolResult] | None) -> None:
        if self._recorder is not None:
            self._recorder.end_round(outcome, results)

    async def _save_history(self) -> str:
        """Commit the turn's artifacts after its last chunk; the markers to append (or "")."""
        if self._recorder is None:
            return ""
        markers = await self._recorder.commit()
        await self._emit_notices()
        return markers

    async def _emit_notices(self) -> None:
        if self._recorder is not None:
            for notice in self._recorder.take_notices():
                await self.emit(status_event(notice, done=True, action="history"))

    async def _run_tools(self, calls: list[OutputItem]) -> list[ToolResult]:
        if self._tools is None or self._tools.executor is None:
            raise RuntimeError("tools can only run in the pipe's own tool mode")
        if self.policy.show_progress:
            await self.emit(status_event(running_label(calls), done=False, action="tool_calls"))
        results = await self._tools.executor.run_round(calls)
        for result in results:
            get_logger().info(
                "tool %s call_id=%s: %s", result.name, result.call_id, result.error_kind or "ok"
            )
        if self.policy.show_progress:
            await self.emit(status_event(done_label(results), done=True, action="tool_calls"))
        return results

    def _limit_chunk(self, calls: list[OutputItem], limit: int) -> dict[str, Any]:
        get_logger().warning("tool loop stopped at MAX_FUNCTION_CALL_LOOPS=%d", limit)
        notice = limit_notice(limit, calls)
        chunk = self._chunks.text(("\n\n" if self._text_shown else "") + notice)
        self._shown = self._text_shown = True
        return chunk

    def _batches(
        self, client: ResponsesClient, request: ResponsesRequest
    ) -> AsyncIterator[list[AnyEvent]]:
        return client.stream(request) if self._streaming else _one_batch(client, request)

    async def _turn(
        self, client: ResponsesClient, request: ResponsesRequest
    ) -> AsyncIterator[dict[str, Any]]:
        """One upstream call, retried while nothing of it was shown; sets `last_outcome`."""
        attempt = 0
        self._turn_shown = False
        while True:
            # Progress statuses ("Thinking…") only make sense while an answer streams in.
            acc = ResponseAccumulator(show_status=self.policy.show_progress and self._streaming)
            try:
                if self._gate is not None:
                    await self._gate.before(request.model, self.policy.max_wait)
                may_retry = attempt < self.policy.max_retries
                async for chunk in self._pump(self._batches(client, request), acc, may_retry):
                    yield chunk
            except PipeError as error:
                if self._gate is not None:
                    await self._gate.learn(request.model, error)
                if await self._retrying(attempt, error):
                    attempt += 1
                    continue
                raise
            self.last_outcome = acc.finish()
            self._usage = add_usage(self._usage, self.last_outcome.usage)
            return

    async def _pump(
        self, batches: AsyncIterator[list[AnyEvent]], acc: ResponseAccumulator, may_retry: bool
    ) -> AsyncIterator[dict[str, Any]]:
        """Batches -> coalesced chunks. Waits for more upstream data only until the coalescing
        deadline, so a pause upstream never holds back what already arrived.

        On a failure, text still held is shown first unless a retry will replace it (nothing
        shown yet and the error is retryable), so partial answers are neither lost nor doubled."""
        coalescer = DeltaCoalescer(self.policy.coalesce_window, COALESCE_MAX_CHARS)
        pump = StreamPump(batches.__aiter__(), acc, coalescer, self.emit, self._lease)
        try:
            while True:
                if pump.error is not None:  # before flushing: a retry may replace held text
                    raise pump.take_error()
                if coalescer.due():
                    for chunk in self._flush(coalescer):
                        yield chunk
                    continue
                if pump.finished:
                    break
                waiter = pump.wait()
                if waiter is not None:
                    await waiter
            if coalescer.has_data:
                for chunk in self._flush(coalescer):
                    yield chunk
        except PipeError as error:
            if coalescer.has_data and (self._turn_shown or not (error.retryable and may_retry)):
                for chunk in self._flush(coalescer):
                    yield chunk
            raise
        finally:
            pump.close()  # never awaited here: see pump.py on cancel scopes

    def _flush(self, coalescer: DeltaCoalescer) -> list[dict[str, Any]]:
        out = []
        for kind, text in coalescer.take():
            if kind == TEXT and text:
                if self._new_paragraph:
                    text, self._new_paragraph = "\n\n" + text, False
                self._text_shown = True
                if self._recorder is not None:
                    self._recorder.text(text)
            out.append(
                self._chunks.reasoning(text) if kind == REASONING else self._chunks.text(text)
            )
        if out:
            self._turn_shown = True
            if not self._shown:
                self._shown = True
                self._first_output = time.monotonic()
        return out

    async def _final_status(self, outcome: RunOutcome) -> None:
        if not self.policy.show_final_status:
            if self.policy.show_progress:
                await self.emit(status_event("", done=True, hidden=True))
            return
        now = time.monotonic()
        generation = (now - self._first_output) if self._first_output else None
        line = final_status_line(self._usage, now - self._started, generation)
        if outcome.incomplete_reason:
            line += f" · stopped: {outcome.incomplete_reason.replace('_', ' ')}"
        if served_by_fallback(self._requested_model, outcome.model):
            line += f" · served by {outcome.model}"
        await self.emit(status_event(line, done=True))


async def _one_batch(
    client: ResponsesClient, request: ResponsesRequest
) -> AsyncIterator[list[AnyEvent]]:
    """A non-streaming result as the terminal event of a one-batch stream."""
    result = await client.create(request)
    kind = TERMINAL_BY_STATUS.get(result.status or "", "response.completed")
    yield [ResponseLifecycleEvent(type=kind, response=result)]
