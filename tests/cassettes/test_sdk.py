"""The real SDKs consume every starter cassette served by the fake OpenRouter.

openai: `responses.create(stream=True)`, `responses.stream()` (+ `get_final_response()`) and
non-streaming `responses.create`, with max_retries=0. openrouter (official SDK, which covers the
Responses API as `client.responses.send`): streaming and not, retries off. Expectations come
from the cassettes themselves (simulator/cassettes/expect.py) plus content checks below.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import openai
import openrouter
import pytest
from openai.types.responses import Response
from openrouter.utils.retries import BackoffStrategy, RetryConfig

from simulator.cassettes.expect import expectation
from simulator.cassettes.format import Cassette, load_cassettes
from simulator.cassettes.player import CassettePlayer
from simulator.cassettes.sse import decode_events
from simulator.openrouter.server import SimServer
from simulator.smoke import sdk_error_class

ROOT = Path(__file__).resolve().parents[2]
CASSETTES = {c.name: c for c in load_cassettes(ROOT / "cassettes")}
NAMES = sorted(CASSETTES)
PLANS = [
    "recorded",
    "event",
    "bytes:1",
    "bytes:13",
    "split-utf8",
    "split-lines",
    "crlf",
    "crlf+bytes:5",
]


def _check_text_plain(r: Response) -> None:
    assert r.output_text == "Bonjour ! Le café crème coûte 3,50 € à Paris. Bon appétit 👋☕"
    assert r.usage.input_tokens > 0 and r.usage.model_extra["cost"] > 0


def _check_reasoning(r: Response) -> None:
    assert [o.type for o in r.output] == ["reasoning", "message"]
    assert r.output[0].summary[0].text.startswith("221 = 13 × 17")
    assert r.output[0].encrypted_content.startswith("enc_")
    assert r.output_text == "No: 221 = 13 × 17, so it is not prime."


def _check_function_call(r: Response) -> None:
    (call,) = r.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Zürich", "unit": "c"}
    assert call.call_id


def _check_parallel(r: Response) -> None:
    calls = [o for o in r.output if o.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert len({c.call_id for c in calls}) == 2
    assert all(json.loads(c.arguments) == {"city": "São Paulo"} for c in calls)


def _check_web_search(r: Response) -> None:
    assert [o.type for o in r.output] == ["web_search_call", "message"]
    annotations = r.output[1].content[0].annotations
    assert [a.type for a in annotations] == ["url_citation", "url_citation"]
    assert annotations[0].url == "https://docs.python.org/3.14/whatsnew/3.14.html"
    assert r.output_text[annotations[0].start_index : annotations[0].end_index].startswith(
        "Python 3.14"
    )


def _check_incomplete(r: Response) -> None:
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.output_text.startswith("La mer")


def _check_failed(r: Response) -> None:
    assert r.status == "failed" and r.error.code == "server_error"
    assert r.model_extra["error_type"] == "provider_unavailable"


CHECKS: dict[str, Callable[[Response], None]] = {
    "text-plain": _check_text_plain,
    "reasoning-then-text": _check_reasoning,
    "function-call": _check_function_call,
    "function-calls-parallel": _check_parallel,
    "web-search-citations": _check_web_search,
    "stream-incomplete": _check_incomplete,
    "stream-failed": _check_failed,
}


@pytest.fixture(scope="module")
def sim():
    # The openrouter SDK always sends service_tier and store: ignored when matching.
    player = CassettePlayer(
        list(CASSETTES.values()), allow_repeats=True, ignore_paths=["service_tier", "store"]
    )
    with SimServer(player=player) as server:
        yield server


@pytest.fixture(scope="module")
def client(sim: SimServer):
    with openai.OpenAI(base_url=sim.base_url, api_key=sim.api_key, max_retries=0) as c:
        yield c


def _kwargs(cassette: Cassette) -> dict:
    body = dict(cassette.interactions[0].request.body)
    body.pop("stream")
    return body


def _raises_http_error(cassette: Cassette, call: Callable[[], object]) -> None:
    expect = expectation(cassette)
    with pytest.raises(openai.APIStatusError) as info:
        call()
    assert type(info.value) is sdk_error_class(expect.status)
    assert info.value.status_code == expect.status
    assert info.value.message.endswith(expect.message)
    if expect.status in (429, 503):
        assert info.value.response.headers["retry-after"] in {"7", "3"}
    if cassette.name == "error-403-moderation":
        assert info.value.body["metadata"]["reasons"] == ["violence"]
    if cassette.name == "error-400-invalid-prompt":
        assert info.value.code == "invalid_prompt"


@pytest.mark.parametrize("name", NAMES)
def test_openai_create_stream(client: openai.OpenAI, name: str) -> None:
    cassette = CASSETTES[name]
    expect = expectation(cassette)
    if expect.kind == "http_error":
        _raises_http_error(
            cassette, lambda: client.responses.create(**_kwargs(cassette), stream=True)
        )
        return
    events = []
    if expect.kind == "sdk_error":
        with pytest.raises(openai.APIError, match=expect.message):
            for event in client.responses.create(**_kwargs(cassette), stream=True):
                events.append(event)
        assert len(events) == expect.events - 1
        return
    events = list(client.responses.create(**_kwargs(cassette), stream=True))
    assert [e.sequence_number for e in events] == list(range(expect.events))
    assert events[0].type == "response.created" and events[-1].type == expect.stream_end
    if expect.kind == "error_event":
        assert events[-1].message == expect.message and events[-1].code == "server_error"
    else:
        CHECKS[name](events[-1].response)


@pytest.mark.parametrize("name", NAMES)
def test_openai_stream_helper(client: openai.OpenAI, name: str) -> None:
    cassette = CASSETTES[name]
    expect = expectation(cassette)
    if expect.kind == "http_error":

        def run() -> None:
            with client.responses.stream(**_kwargs(cassette)) as stream:
                stream.get_final_response()

        _raises_http_error(cassette, run)
        return
    if expect.kind == "sdk_error":
        with pytest.raises(openai.APIError, match=expect.message):
            with client.responses.stream(**_kwargs(cassette)) as stream:
                list(stream)
        return
    with client.responses.stream(**_kwargs(cassette)) as stream:
        if expect.kind == "completed":
            final = stream.get_final_response()
            CHECKS[name](final)
            deltas = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
            assert deltas == ""  # get_final_response consumed the stream
            return
        events = list(stream)
    assert events[-1].type == expect.stream_end
    if expect.kind in CHECKS or name in CHECKS:
        CHECKS[name](events[-1].response)


@pytest.mark.parametrize("name", NAMES)
def test_openai_non_streaming(client: openai.OpenAI, name: str) -> None:
    cassette = CASSETTES[name]
    expect = expectation(cassette)
    if expect.kind == "http_error":
        _raises_http_error(cassette, lambda: client.responses.create(**_kwargs(cassette)))
        return
    if expect.json_status != 200:  # a stream with no terminal event: 502 (see convert.py)
        with pytest.raises(openai.InternalServerError) as info:
            client.responses.create(**_kwargs(cassette))
        assert info.value.status_code == 502 and info.value.message.endswith(expect.message)
        return
    result = client.responses.create(**_kwargs(cassette))
    assert isinstance(result, Response) and result.object == "response"
    CHECKS[name](result)


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("name", ["text-plain", "web-search-citations", "function-calls-parallel"])
def test_every_chunking_plan_decodes_identically_in_the_sdk(
    client: openai.OpenAI, sim: SimServer, name: str, plan: str
) -> None:
    cassette = CASSETTES[name]
    baseline = [e.model_dump() for e in client.responses.create(**_kwargs(cassette), stream=True)]
    replayed = [
        e.model_dump()
        for e in client.responses.create(
            **_kwargs(cassette), stream=True, extra_headers={"X-Sim-Chunking": plan}
        )
    ]
    assert replayed == baseline
    # Byte level: the bytes on the wire decode to the recorded events.
    with sim.client() as raw_client:
        body = {**cassette.interactions[0].request.body, "stream": True}
        with raw_client.stream(
            "POST", "/responses", json=body, headers={"X-Sim-Chunking": plan}
        ) as reply:
            pieces = list(reply.iter_raw())
    wire = b"".join(pieces)
    assert decode_events(wire) == decode_events(cassette.interactions[0].response.raw_stream())
    assert (b"\r\n" in wire) == ("crlf" in plan)
    if plan == "bytes:1":
        assert len(pieces) > 100


def _openrouter(sim: SimServer) -> openrouter.OpenRouter:
    no_retries = RetryConfig("none", BackoffStrategy(1, 1, 1.0, 1), False)
    return openrouter.OpenRouter(
        api_key=sim.api_key, server_url=sim.base_url, retry_config=no_retries
    )


OPENROUTER_ERRORS = {
    # The SDK types `error.code` as an integer: the Responses envelope's string code
    # ("invalid_prompt") fails its response validation (a real SDK limitation worth knowing).
    400: "ResponseValidationError",
    401: "UnauthorizedResponseError",
    402: "PaymentRequiredResponseError",
    403: "ForbiddenResponseError",
    408: "RequestTimeoutResponseError",
    429: "TooManyRequestsResponseError",
    500: "InternalServerResponseError",
    502: "BadGatewayResponseError",
    503: "ServiceUnavailableResponseError",
}


@pytest.mark.parametrize("name", NAMES)
def test_openrouter_sdk_send(sim: SimServer, name: str) -> None:
    cassette = CASSETTES[name]
    expect = expectation(cassette)
    client = _openrouter(sim)
    if expect.kind == "http_error":
        for stream in (False, True):
            with pytest.raises(openrouter.errors.OpenRouterError) as info:
                client.responses.send(**_kwargs(cassette), stream=stream)
            assert type(info.value).__name__ == OPENROUTER_ERRORS[expect.status]
        return
    if expect.json_status == 200:
        result = client.responses.send(**_kwargs(cassette))
        assert result.status == expect.final["status"]
        assert result.output_text == expect.final.get("output_text")
    else:
        with pytest.raises(openrouter.errors.OpenRouterError) as info:
            client.responses.send(**_kwargs(cassette))
        assert type(info.value).__name__ == "BadGatewayResponseError"
    events = list(client.responses.send(**_kwargs(cassette), stream=True))
    assert len(events) == expect.events
    last = events[-1].type
    # The nested error shape is not in OpenRouter's own event union: the SDK yields it as UNKNOWN.
    assert last == (expect.stream_end or "UNKNOWN")
