"""OpenTelemetry spans and metrics through the global API, the way Open WebUI does it.

Open WebUI 0.12.4 installs real tracer/meter providers when `ENABLE_OTEL*` is set; the pipe
then adds its spans (request, catalog fetch, each upstream attempt with status and generation
id, first token, tool calls) and metrics (time to first token, tokens in/out, cost, errors by
kind, admission queue depth) to the operator's existing collector. With no provider installed
(the default) nothing is created at all: `RequestTelemetry.start` returns None after two
isinstance checks, so telemetry off costs nothing measurable (`orsim bench pipe`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

try:  # shipped with Open WebUI 0.12.4; absent elsewhere is fine
    from opentelemetry import metrics as otel_metrics
    from opentelemetry import trace as otel_trace
except ImportError:  # pragma: no cover - depends on the environment
    otel_metrics = None  # type: ignore[assignment]
    otel_trace = None  # type: ignore[assignment]

SCOPE = "openrouter_pipe"


def tracing_on() -> bool:
    if otel_trace is None:
        return False
    provider = otel_trace.get_tracer_provider()
    return not isinstance(provider, otel_trace.ProxyTracerProvider | otel_trace.NoOpTracerProvider)


def metrics_on() -> bool:
    if otel_metrics is None:
        return False
    provider = otel_metrics.get_meter_provider()
    return not (
        isinstance(provider, otel_metrics.NoOpMeterProvider)
        or type(provider).__name__ == "_ProxyMeterProvider"
    )


class PipeMetrics:
    """The pipe's instruments, created once per meter provider."""

    def __init__(self, queue_depth: Callable[[], int]) -> None:
        meter = otel_metrics.get_meter(SCOPE)
        self.ttft = meter.create_histogram(
            "openrouter.time_to_first_token", unit="s", description="Request start to first token"
        )
        self.tokens_in = meter.create_counter("openrouter.tokens.input", unit="{token}")
        self.tokens_out = meter.create_counter("openrouter.tokens.output", unit="{token}")
        self.cost = meter.create_counter("openrouter.cost", unit="USD")
        self.errors = meter.create_counter("openrouter.errors", description="Errors by kind")
        self.requests = meter.create_counter("openrouter.requests", description="By outcome")

        def observe(_options: Any) -> Any:
            yield otel_metrics.Observation(queue_depth())

        meter.create_observable_gauge(
            "openrouter.admission.queue_depth", callbacks=[observe], description="Waiting requests"
        )
        self.provider = otel_metrics.get_meter_provider()

    def bound_to_current(self) -> bool:
        return otel_metrics.get_meter_provider() is self.provider


def _status_error(span: Any, message: str) -> None:
    span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, message[:200]))


class RequestTelemetry:
    """The spans and measurements of one request (created only when telemetry is on)."""

    def __init__(self, tracer: Any, metrics: PipeMetrics | None, attributes: dict[str, Any]):
        self._tracer = tracer
        self.metrics = metrics
        self.attributes = attributes
        self.span = (
            tracer.start_span("openrouter.request", attributes=attributes) if tracer else None
        )
        self._first_token_seen = False

    @classmethod
    def start(
        cls, metrics_for: Callable[[], PipeMetrics | None], attributes: dict[str, Any]
    ) -> RequestTelemetry | None:
        tracing, measuring = tracing_on(), metrics_on()
        if not (tracing or measuring):
            return None
        tracer = otel_trace.get_tracer(SCOPE) if tracing else None
        return cls(tracer, metrics_for() if measuring else None, attributes)

    def _child(self, name: str, attributes: dict[str, Any]) -> Any:
        if self._tracer is None:
            return None
        parent = otel_trace.set_span_in_context(self.span) if self.span is not None else None
        return self._tracer.start_span(name, context=parent, attributes=attributes)

    def attempt(self, n: int, url: str) -> Any:
        return self._child("openrouter.upstream.attempt", {"attempt": n, "url.full": url})

    @staticmethod
    def attempt_done(span: Any, status: int | None, generation: str, error: str) -> None:
        if span is None:
            return
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if generation:
            span.set_attribute("openrouter.generation_id", generation)
        if error:
            _status_error(span, error)
            span.set_attribute("error.type", error.split(":", 1)[0])
        span.end()

    def first_token(self, seconds: float) -> None:
        if self._first_token_seen:
            return
        self._first_token_seen = True
        if self.span is not None:
            self.span.add_event("first_token", {"seconds": seconds})
        if self.metrics is not None:
            self.metrics.ttft.record(seconds, {"model": self.attributes.get("model", "")})

    @contextmanager
    def tool_call(self, name: str) -> Iterator[Any]:
        span = self._child("openrouter.tool_call", {"tool.name": name})
        try:
            yield span
        finally:
            if span is not None:
                span.end()

    def finish(self, outcome: str, error_kind: str, usage: dict[str, Any] | None) -> None:
        labels = {"model": str(self.attributes.get("model", ""))}
        if self.metrics is not None:
            self.metrics.requests.add(1, {**labels, "outcome": outcome})
            if error_kind:
                self.metrics.errors.add(1, {**labels, "kind": error_kind})
            if usage:
                self.metrics.tokens_in.add(int(usage.get("prompt_tokens") or 0), labels)
                self.metrics.tokens_out.add(int(usage.get("completion_tokens") or 0), labels)
                if isinstance(usage.get("cost"), int | float):
                    self.metrics.cost.add(float(usage["cost"]), labels)
        if self.span is not None:
            self.span.set_attribute("openrouter.outcome", outcome)
            if usage:
                self.span.set_attribute("gen_ai.usage.input_tokens", usage.get("prompt_tokens", 0))
                self.span.set_attribute(
                    "gen_ai.usage.output_tokens", usage.get("completion_tokens", 0)
                )
            if error_kind:
                _status_error(self.span, error_kind)
                self.span.set_attribute("error.type", error_kind)
            self.span.end()


@contextmanager
def catalog_span(url: str) -> Iterator[Any]:
    """A span around one catalog fetch (outside any request: a root span)."""
    if not tracing_on():
        yield None
        return
    with otel_trace.get_tracer(SCOPE).start_as_current_span(
        "openrouter.catalog.fetch", attributes={"url.full": url}
    ) as span:
        yield span
