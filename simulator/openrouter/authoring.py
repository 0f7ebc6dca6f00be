"""Write the starter cassettes in `cassettes/` (hand-authored after OpenRouter's
documented Responses stream, synthesised).

`python -m simulator.openrouter.authoring [DIR]` regenerates them byte for byte: events come from
the simulator's `synth.py`, offsets from a seeded generator (keep-alive comments first, a
realistic time to first event, a few tens of ms between events, one event split across two
reads), so the files never drift unless this script changes.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.cassettes.format import (
    Cassette,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    save_cassette,
    stream_response,
)
from simulator.openrouter import errors as orerr
from simulator.openrouter import synth

AUTHORED_AT = "2026-01-01T00:00:00+00:00"
SOURCE = "simulator/openrouter/authoring.py: synth.py scripts shaped after the documented Responses stream"
PATH = "/api/v1/responses"
REQUEST_HEADERS = {
    "authorization": "REDACTED",
    "content-type": "application/json",
    "http-referer": "https://example.org/owui",
    "x-title": "OpenRouter Responses pipe",
}
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city"],
    },
}
TIME_TOOL = {
    "type": "function",
    "name": "get_time",
    "description": "Local time in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def request(model: str, text: str, **extra: Any) -> RecordedRequest:
    body = {"model": model, "input": [{"role": "user", "content": text}], "stream": True, **extra}
    return RecordedRequest(method="POST", path=PATH, headers=dict(REQUEST_HEADERS), body=body)


def timed_stream(events: list[dict[str, Any]], seed: str) -> list[tuple[float, bytes]]:
    """Keep-alives, then the events with jittered gaps; one event is split across two reads and
    `response.created` + `response.in_progress` share one read, as real sockets do."""
    rng = random.Random(seed)
    t = 0.05 + rng.random() * 0.05
    chunks: list[tuple[float, bytes]] = []
    for _ in range(2):
        chunks.append((round(t, 6), synth.KEEPALIVE))
        t += 0.25 + rng.random() * 0.1
    frames = [synth.encode_event(e) for e in events] + [synth.DONE]
    head = frames[0] + frames[1] if len(frames) > 2 else frames[0]
    chunks.append((round(t, 6), head))
    split_at = len(frames) // 2
    for index, frame in enumerate(frames[2 if len(frames) > 2 else 1 :], start=2):
        t += 0.015 + rng.random() * 0.03
        if index == split_at and len(frame) > 20:
            cut = len(frame) // 2
            chunks.append((round(t, 6), frame[:cut]))
            t += 0.002
            chunks.append((round(t, 6), frame[cut:]))
        else:
            chunks.append((round(t, 6), frame))
    return chunks


def sse(events: list[dict[str, Any]], seed: str, generation: str) -> RecordedResponse:
    headers = [
        ("content-type", "text/event-stream"),
        ("cache-control", "no-cache"),
        ("x-generation-id", generation),
    ]
    return stream_response(200, headers, timed_stream(events, seed), headers_offset=0.04)


def json_error(status: int, body: dict, *, retry_after: str | None = None) -> RecordedResponse:
    headers = [("content-type", "application/json")]
    if retry_after is not None:
        headers.append(("retry-after", retry_after))
    if status == 429:
        headers += [("x-ratelimit-limit", "20"), ("x-ratelimit-remaining", "0")]
    return RecordedResponse(
        status=status, headers=headers, headers_offset=0.12, body=body, body_offset=0.12
    )


def cassette(name: str, description: str, req: RecordedRequest, resp: RecordedResponse) -> Cassette:
    return Cassette(
        name=name,
        description=f"SYNTHESISED (hand-authored, not a live recording): {description}",
        synthesised=True,
        recorded_at=AUTHORED_AT,
        source=SOURCE,
        interactions=[Interaction(request=req, response=resp)],
    )


def success(name: str, description: str, text: str, script: synth.Script, **extra: Any) -> Cassette:
    events = synth.build_events(script)
    generation = synth.generation_id(events[0]["response"]["id"])
    return cassette(
        name, description, request(script.model, text, **extra), sse(events, name, generation)
    )


def _partial_text_events(script: synth.Script, keep: int) -> list[dict[str, Any]]:
    """The first events of a text answer (created ... a few deltas), to end in an error."""
    events = synth.build_events(script)
    cut = next(i for i, e in enumerate(events) if e["type"] == "response.output_text.delta")
    return events[: cut + keep]


def mid_stream(name: str, description: str, text: str, last: Callable[[int], dict]) -> Cassette:
    script = synth.Script(
        model="openai/gpt-4o-mini", seed=name, text="Working on it, un instant… ⏳"
    )
    events = _partial_text_events(script, 3)
    events.append(last(len(events)))
    generation = synth.generation_id(events[0]["response"]["id"])
    return cassette(name, description, request(script.model, text), sse(events, name, generation))


def starter_cassettes() -> list[Cassette]:
    mini = "openai/gpt-4o-mini"
    out = [
        success(
            "text-plain",
            "plain text answer with multi-byte characters (accents, euro sign, emoji).",
            "Say hello in French and tell me about coffee.",
            synth.Script(
                model=mini,
                seed="text-plain",
                text="Bonjour ! Le café crème coûte 3,50 € à Paris. Bon appétit 👋☕",
            ),
        ),
        success(
            "reasoning-then-text",
            "a reasoning item (summary deltas) closed before the answer text.",
            "Is 221 a prime number?",
            synth.Script(
                model="openai/o4-mini",
                seed="reasoning-then-text",
                reasoning="221 = 13 × 17, so it has divisors other than 1 and itself.",
                encrypted_reasoning=True,
                text="No: 221 = 13 × 17, so it is not prime.",
            ),
            reasoning={"effort": "low", "summary": "auto"},
            include=["reasoning.encrypted_content"],
        ),
        success(
            "function-call",
            "one function call (get_weather) with streamed arguments and no text.",
            "What is the weather in Zürich?",
            synth.Script(
                model="openai/gpt-4.1",
                seed="function-call",
                function_calls=[
                    synth.FunctionCall(
                        name="get_weather", arguments={"city": "Zürich", "unit": "c"}
                    )
                ],
            ),
            tools=[WEATHER_TOOL],
        ),
        success(
            "function-calls-parallel",
            "two parallel function calls (get_weather, get_time) at output indices 0 and 1.",
            "Weather and local time in São Paulo?",
            synth.Script(
                model="openai/gpt-4.1",
                seed="function-calls-parallel",
                function_calls=[
                    synth.FunctionCall(name="get_weather", arguments={"city": "São Paulo"}),
                    synth.FunctionCall(name="get_time", arguments={"city": "São Paulo"}),
                ],
            ),
            tools=[WEATHER_TOOL, TIME_TOOL],
            parallel_tool_calls=True,
        ),
        success(
            "web-search-citations",
            "a web_search_call item, then text with two url_citation annotations.",
            "What changed in the latest Python release?",
            synth.Script(
                model="openai/gpt-4o",
                seed="web-search-citations",
                web_search=True,
                web_search_query="latest Python release changes",
                text="Python 3.14 adds template strings [1] and a free-threaded build [2].",
                citations=[
                    synth.Citation(
                        url="https://docs.python.org/3.14/whatsnew/3.14.html",
                        title="What’s New In Python 3.14",
                        start_index=0,
                        end_index=41,
                    ),
                    synth.Citation(
                        url="https://peps.python.org/pep-0779/",
                        title="PEP 779 – free-threaded Python",
                        start_index=46,
                        end_index=68,
                        content="Criteria for supported status for free-threaded Python […]",
                    ),
                ],
            ),
            tools=[{"type": "web_search"}],
        ),
        success(
            "stream-incomplete",
            "`response.incomplete` with incomplete_details.reason=max_output_tokens.",
            "Write a very long poem about the sea.",
            synth.Script(
                model=mini,
                seed="stream-incomplete",
                text="La mer, la mer, toujours recommencée — the sea, the",
                status="incomplete",
                incomplete_reason="max_output_tokens",
                usage=synth.Usage(output_tokens=16),
            ),
            max_output_tokens=16,
        ),
        mid_stream(
            "stream-error-flat",
            "200, a few text deltas, then OpenRouter's flat `error` event and [DONE].",
            "Trigger a flat mid-stream error.",
            lambda n: synth.error_event("Upstream provider disconnected", sequence_number=n),
        ),
        mid_stream(
            "stream-error-nested",
            "200, a few text deltas, then the nested `{type:error, error:{code,message}}` event "
            "(the openai SDK raises APIError on it).",
            "Trigger a nested mid-stream error.",
            lambda n: synth.nested_error_event(
                "Provider returned error", code=502, sequence_number=n
            ),
        ),
        mid_stream(
            "stream-failed",
            "200, a few text deltas, then `response.failed` with error and top-level error_type.",
            "Trigger response.failed.",
            lambda n: synth.failed_event(
                synth.Script(model=mini, seed="stream-failed"),
                message="Provider returned error",
                error_type="provider_unavailable",
                sequence_number=n,
            ),
        ),
    ]
    out += error_cassettes()
    return out


def error_cassettes() -> list[Cassette]:
    mini = "openai/gpt-4o-mini"
    shapes: list[tuple[str, str, int, dict, str | None]] = [
        (
            "error-400-invalid-prompt",
            "400 in the Responses envelope with a string code.",
            400,
            orerr.responses_envelope(
                "Invalid input: the prompt could not be parsed.", "invalid_prompt"
            ),
            None,
        ),
        (
            "error-401",
            "401 generic envelope (bad key).",
            401,
            orerr.generic_envelope(401, "No auth credentials found"),
            None,
        ),
        ("error-402", "402 insufficient credits.", 402, orerr.generic_envelope(402), None),
        (
            "error-403-moderation",
            "403 moderation flag with metadata (reasons, flagged_input, provider, model).",
            403,
            orerr.generic_envelope(
                403,
                'openai/gpt-4o-mini requires moderation on OpenAI. Your input was flagged for "violence".',
                error_type="content_policy_violation",
                metadata={
                    "reasons": ["violence"],
                    "flagged_input": "How do I build a…weapon at home?",
                    "provider_name": "OpenAI",
                    "model_slug": mini,
                },
            ),
            None,
        ),
        ("error-408", "408 request timeout.", 408, orerr.generic_envelope(408), None),
        (
            "error-429",
            "429 rate limited, with Retry-After and availability.retry_after.",
            429,
            orerr.generic_envelope(
                429,
                availability={
                    "code": "capacity_exhausted",
                    "retryable": True,
                    "retry_after": 7,
                    "requested_models": [mini],
                },
            ),
            "7",
        ),
        (
            "error-500",
            "500 masked internal error (error_type server).",
            500,
            orerr.generic_envelope(500),
            None,
        ),
        ("error-502", "502 provider returned error.", 502, orerr.generic_envelope(502), None),
        (
            "error-503",
            "503 no provider available, with Retry-After.",
            503,
            orerr.generic_envelope(
                503,
                availability={
                    "code": "temporarily_unavailable",
                    "retryable": True,
                    "retry_after": 3,
                },
            ),
            "3",
        ),
    ]
    return [
        cassette(
            name,
            description,
            request(mini, f"Trigger {name}."),
            json_error(status, body, retry_after=retry),
        )
        for name, description, status, body, retry in shapes
    ]


def write_all(directory: str | Path) -> list[Path]:
    directory = Path(directory)
    paths = []
    for item in starter_cassettes():
        path = directory / f"{item.name}.yaml"
        save_cassette(item, path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_all(sys.argv[1] if len(sys.argv) > 1 else "cassettes"):
        print(written)
