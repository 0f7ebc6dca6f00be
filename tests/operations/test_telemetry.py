"""OpenTelemetry through the global API, with the SDK's in-memory exporter and reader installed
as the global providers (as Open WebUI installs its OTLP ones when ENABLE_OTEL is set)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from pipe.telemetry import RequestTelemetry, metrics_on, tracing_on
from tests.pipe.helpers import Recorder, chat_body, make_pipe, run_pipe
from tests.pipe.tool_helpers import CITY, call, owui_tools, script


def _reset_globals() -> None:
    """What OpenTelemetry's own test utilities do between tests: providers can be set once."""
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None


@pytest.fixture
def otel() -> Iterator[tuple[InMemorySpanExporter, InMemoryMetricReader]]:
    _reset_globals()
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    yield spans, reader
    _reset_globals()


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


def test_telemetry_is_off_without_providers():
    _reset_globals()
    assert not tracing_on() and not metrics_on()
    assert RequestTelemetry.start(lambda: None, {}) is None


async def test_spans_and_metrics_of_a_chat_with_a_retry_and_a_tool(openrouter_sim, otel):
    spans, reader = otel

    async def get_weather(city: str) -> str:
        return "sunny"

    openrouter_sim.enqueue(
        {
            **script(function_calls=[call("get_weather", {"city": "Oslo"}, "c1")]),
            "fault": "server_error;status=503;count=1;retry_after=0",
        },
        script(text="Sunny in Oslo.", usage={"input_tokens": 12, "output_tokens": 3, "cost": 0.01}),
    )
    out = await run_pipe(
        make_pipe(openrouter_sim),
        chat_body("Weather?"),
        Recorder(),
        __tools__=owui_tools(("get_weather", get_weather, CITY)),
    )
    assert out.text == "Sunny in Oslo."
    finished = spans.get_finished_spans()
    by_name: dict[str, list[Any]] = {}
    for span in finished:
        by_name.setdefault(span.name, []).append(span)
    (request,) = by_name["openrouter.request"]
    attempts = by_name["openrouter.upstream.attempt"]
    assert [a.attributes["http.response.status_code"] for a in attempts] == [503, 200, 200]
    assert attempts[0].status.status_code == trace.StatusCode.ERROR
    assert all(a.parent.span_id == request.context.span_id for a in attempts)
    assert attempts[1].attributes["openrouter.generation_id"].startswith("gen-")
    (tool,) = by_name["openrouter.tool_call"]
    assert tool.attributes["tool.name"] == "get_weather"
    assert tool.parent.span_id == request.context.span_id
    assert request.attributes["openrouter.outcome"] == "ok"
    assert [e.name for e in request.events] == ["first_token"]
    assert request.attributes["gen_ai.usage.output_tokens"] >= 3
    seen = points(reader)
    assert seen["openrouter.time_to_first_token"][0].count == 1
    assert sum(p.value for p in seen["openrouter.tokens.output"]) >= 3
    assert sum(p.value for p in seen["openrouter.cost"]) >= 0.01
    assert [p.attributes["outcome"] for p in seen["openrouter.requests"]] == ["ok"]
    assert "openrouter.admission.queue_depth" in seen


async def test_errors_are_counted_by_kind_and_marked_on_the_span(openrouter_sim, otel):
    spans, reader = otel
    openrouter_sim.enqueue({"status": 402})
    await run_pipe(make_pipe(openrouter_sim), chat_body("x"))
    (request,) = [s for s in spans.get_finished_spans() if s.name == "openrouter.request"]
    assert request.status.status_code == trace.StatusCode.ERROR
    assert request.attributes["error.type"] == "credits"
    errors = points(reader)["openrouter.errors"]
    assert [(p.attributes["kind"], p.value) for p in errors] == [("credits", 1)]


async def test_catalog_fetch_has_its_span(openrouter_sim, otel):
    spans, _ = otel
    assert await make_pipe(openrouter_sim).pipes()
    (fetch,) = [s for s in spans.get_finished_spans() if s.name == "openrouter.catalog.fetch"]
    assert fetch.attributes["openrouter.catalog.bytes"] > 0
