"""The recording proxy, with the fake OpenRouter (SimServer) as its upstream."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

from simulator.cassettes.format import load_cassette
from simulator.cassettes.player import CassettePlayer
from simulator.cassettes.recorder import RecordingProxy, run_record
from simulator.cassettes.sse import decode_events
from simulator.net import LoopbackServer
from simulator.openrouter.server import SimServer

ROOT = Path(__file__).resolve().parents[2]
CASSETTES = ROOT / "cassettes"
SECRET = "sk-or-v1-TOPSECRET-0123456789abcdef"


def _body(name: str) -> dict:
    body = dict(load_cassette(CASSETTES / f"{name}.yaml").interactions[0].request.body)
    body.pop("stream")
    return body


@pytest.fixture(scope="module")
def upstream():
    player = CassettePlayer(CASSETTES, allow_repeats=True)
    with SimServer(player=player, api_key=SECRET) as sim:
        yield sim


def _proxy(upstream_url: str, out: Path, **kwargs) -> tuple[RecordingProxy, LoopbackServer]:
    proxy = RecordingProxy(upstream_url, out, **kwargs)
    return proxy, LoopbackServer(proxy)


def test_record_then_replay_keeps_events_and_chunk_boundaries(
    upstream: SimServer, tmp_path: Path
) -> None:
    out = tmp_path / "rec.yaml"
    _, server = _proxy(upstream.base_url, out)
    with server:
        client = openai.OpenAI(base_url=server.url + "/api/v1", api_key=SECRET, max_retries=0)
        through_proxy = [
            e.model_dump() for e in client.responses.create(**_body("text-plain"), stream=True)
        ]
    direct = openai.OpenAI(base_url=upstream.base_url, api_key=SECRET, max_retries=0)
    assert through_proxy == [
        e.model_dump() for e in direct.responses.create(**_body("text-plain"), stream=True)
    ]

    recorded = load_cassette(out)
    assert recorded.synthesised is False and recorded.source == upstream.base_url
    (interaction,) = recorded.interactions
    assert interaction.request.path == "/api/v1/responses"
    assert interaction.request.body == {**_body("text-plain"), "stream": True}
    response = interaction.response
    assert response.status == 200 and response.header("content-type").startswith(
        "text/event-stream"
    )
    assert response.header("x-generation-id")
    offsets = [c.offset for c in response.chunks]
    assert offsets == sorted(offsets) and offsets[0] >= response.headers_offset
    # The upstream sent the starter cassette's recorded chunks: the same boundaries came back.
    sent = [
        c.data for c in load_cassette(CASSETTES / "text-plain.yaml").interactions[0].response.chunks
    ]
    assert [c.data for c in response.chunks] == sent

    async def replay() -> list[bytes]:
        played = await CassettePlayer(recorded, chunking="recorded").play(
            "POST", "/api/v1/responses", {}, {**_body("text-plain"), "stream": True}
        )
        return [c.data for c in played.chunks]

    replayed = asyncio.run(replay())
    assert replayed == sent
    assert decode_events(b"".join(replayed)) == decode_events(b"".join(sent))


def test_json_answers_and_errors_are_recorded_as_bodies(
    upstream: SimServer, tmp_path: Path
) -> None:
    out = tmp_path / "rec.yaml"
    _, server = _proxy(upstream.base_url, out)
    with server:
        client = openai.OpenAI(base_url=server.url + "/api/v1", api_key=SECRET, max_retries=0)
        result = client.responses.create(**_body("function-call"))
        assert result.output[0].name == "get_weather"
        assert len(load_cassette(out).interactions) == 1  # valid after every interaction
        with pytest.raises(openai.RateLimitError) as info:
            client.responses.create(**_body("error-429"))
        assert info.value.response.headers["retry-after"] == "7"
    first, second = load_cassette(out).interactions
    assert (
        first.response.body["output"][0]["name"] == "get_weather" and first.response.chunks is None
    )
    assert second.response.status == 429 and second.response.header("retry-after") == "7"
    assert second.response.body["error"]["code"] == 429


def test_no_secret_reaches_the_file(upstream: SimServer, tmp_path: Path) -> None:
    out = tmp_path / "rec.yaml"
    _, server = _proxy(upstream.base_url, out, redact_fields=("metadata.email",))
    body = {**_body("text-plain"), "stream": True, "metadata": {"email": "alice@example.org"}}
    with server, httpx.Client(base_url=server.url) as client:
        reply = client.post(
            "/api/v1/responses?key=" + SECRET,
            json=body,
            headers={
                "Authorization": f"Bearer {SECRET}",
                "Cookie": f"session={SECRET}",
                "X-Api-Key": SECRET,
                "X-Custom-Token": SECRET,
            },
        )
    # The upstream saw the real key (no match for the extra metadata, but authenticated).
    assert reply.status_code == 400 and "no cassette interaction matches" in reply.text
    data = out.read_bytes()
    assert SECRET.encode() not in data
    assert b"TOPSECRET" not in data and b"alice@example.org" not in data
    request = load_cassette(out).interactions[0].request
    assert request.headers["authorization"] == "REDACTED"
    assert request.headers["cookie"] == request.headers["x-api-key"] == "REDACTED"
    assert request.body["metadata"]["email"] == "REDACTED"
    assert "key=REDACTED" in request.path


def test_new_interactions_are_appended_to_an_existing_cassette(
    upstream: SimServer, tmp_path: Path
) -> None:
    out = tmp_path / "rec.yaml"
    for _ in range(2):
        _, server = _proxy(upstream.base_url, out)
        with server:
            client = openai.OpenAI(base_url=server.url + "/api/v1", api_key=SECRET, max_retries=0)
            client.responses.create(**_body("text-plain"))
    assert len(load_cassette(out).interactions) == 2


def test_responses_stream_through_as_they_arrive(tmp_path: Path) -> None:
    """The upstream holds its second chunk until the client has read the first: a buffering
    proxy would deadlock until the gate times out, and `released` would be False."""
    gate = threading.Event()
    released: list[bool] = []

    async def stream(_request):
        async def body():
            yield b": OPENROUTER PROCESSING\n\n"
            released.append(await asyncio.to_thread(gate.wait, 10))
            yield b"data: [DONE]\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    upstream = Starlette(routes=[Route("/api/v1/responses", stream, methods=["POST"])])
    with LoopbackServer(upstream) as up:
        _, server = _proxy(up.url + "/api/v1", tmp_path / "rec.yaml")
        with server, httpx.Client(base_url=server.url) as client:
            with client.stream("POST", "/api/v1/responses", json={"stream": True}) as reply:
                pieces = reply.iter_raw()
                assert next(pieces) == b": OPENROUTER PROCESSING\n\n"
                gate.set()
                assert b"".join(pieces) == b"data: [DONE]\n\n"
    assert released == [True]
    chunks = load_cassette(tmp_path / "rec.yaml").interactions[0].response.chunks
    assert [c.data for c in chunks] == [b": OPENROUTER PROCESSING\n\n", b"data: [DONE]\n\n"]


def test_unreachable_upstream_gives_502_and_records_nothing(tmp_path: Path) -> None:
    with LoopbackServer(Starlette()) as dead:
        url = dead.url
    out = tmp_path / "rec.yaml"
    _, server = _proxy(url + "/api/v1", out)
    with server, httpx.Client(base_url=server.url) as client:
        reply = client.post("/api/v1/responses", json={})
    assert reply.status_code == 502
    assert "upstream request failed" in reply.json()["error"]["message"]
    assert load_cassette(out).interactions == []


def test_bad_arguments_are_rejected_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--upstream must be an http"):
        RecordingProxy("openrouter.ai", tmp_path / "x.yaml")
    with pytest.raises(ValueError, match="bad JSON path"):
        RecordingProxy("http://127.0.0.1:9/api/v1", tmp_path / "x.yaml", redact_fields=("a..b",))
    lines: list[str] = []
    assert run_record("ftp://nope", tmp_path / "y.yaml", echo=lines.append) == 2
    assert "must be an http" in lines[0]
    (tmp_path / "broken.yaml").write_text("name: [", encoding="utf-8")
    assert run_record("http://127.0.0.1:9", tmp_path / "broken.yaml", echo=lines.append) == 2
    assert "not valid YAML" in lines[-1]


def test_orsim_record_command_prints_the_url_and_records(
    upstream: SimServer, tmp_path: Path
) -> None:
    out = tmp_path / "cli.yaml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator.cli",
            "record",
            "--upstream",
            upstream.base_url,
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("recording ")
        line = process.stdout.readline()
        base_url = line.rsplit(" ", 1)[-1].strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/v1")
        client = openai.OpenAI(base_url=base_url, api_key=SECRET, max_retries=0)
        assert client.responses.create(**_body("text-plain")).output_text.startswith("Bonjour")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert len(load_cassette(out).interactions) == 1
    assert SECRET.encode() not in out.read_bytes()


def test_concurrent_exchanges_are_all_recorded(upstream: SimServer, tmp_path: Path) -> None:
    out = tmp_path / "rec.yaml"
    _, server = _proxy(upstream.base_url, out)
    names = ["text-plain", "function-call", "reasoning-then-text", "web-search-citations"]
    with server:
        client = openai.OpenAI(base_url=server.url + "/api/v1", api_key=SECRET, max_retries=0)

        def run(name: str) -> int:
            return len(list(client.responses.create(**_body(name), stream=True)))

        threads = [threading.Thread(target=run, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    recorded = load_cassette(out).interactions
    assert sorted(i.request.body["input"][0]["content"] for i in recorded) == sorted(
        _body(name)["input"][0]["content"] for name in names
    )
    for interaction in recorded:
        assert decode_events(interaction.response.raw_stream())[-1] == "[DONE]"


def _record_stream(tmp_path: Path, pieces: list[bytes], **proxy_kwargs) -> tuple[bytes, list]:
    """Record one streamed exchange whose upstream sends `pieces` as separate reads."""

    async def stream(_request):
        async def body():
            for piece in pieces:
                yield piece
                await asyncio.sleep(0.02)  # separate network reads

        return StreamingResponse(body(), media_type="text/event-stream")

    upstream = Starlette(routes=[Route("/api/v1/responses", stream, methods=["POST"])])
    out = tmp_path / "rec.yaml"
    with LoopbackServer(upstream) as up:
        _, server = _proxy(up.url + "/api/v1", out, **proxy_kwargs)
        with server, httpx.Client(base_url=server.url) as client:
            client.post(
                "/api/v1/responses",
                json={"stream": True},
                headers={"Authorization": f"Bearer {SECRET}"},
            )
    return out.read_bytes(), load_cassette(out).interactions[0].response.chunks


def test_a_key_split_across_two_reads_never_reaches_the_file(tmp_path: Path) -> None:
    half = len(SECRET) // 2
    pieces = [
        b'data: {"type":"error","message":"bad key ' + SECRET[:half].encode(),
        SECRET[half:].encode() + b' rejected"}\n\n',
        b"data: [DONE]\n\n",
    ]
    data, chunks = _record_stream(tmp_path, pieces)
    assert SECRET.encode() not in data
    assert SECRET[:half].encode() not in data and SECRET[half:].encode() not in data
    assert len(chunks) == 3  # the boundaries are kept
    assert b"".join(c.data for c in chunks) == (
        b'data: {"type":"error","message":"bad key REDACTED rejected"}\n\ndata: [DONE]\n\n'
    )


def test_openrouter_key_shapes_are_scrubbed_even_if_the_request_never_carried_them(
    tmp_path: Path,
) -> None:
    other = "sk-or-v1-" + "ab12" * 16
    data, _ = _record_stream(tmp_path, [b'data: {"leak":"' + other.encode() + b'"}\n\n'])
    assert other.encode() not in data and b"sk-or-v1-" not in data


def test_configured_values_are_scrubbed_at_any_length(tmp_path: Path) -> None:
    data, _ = _record_stream(tmp_path, [b'data: {"pin":"4711"}\n\n'], redact_values=("4711",))
    assert b"4711" not in data and b"REDACTED" in data


def test_credential_fields_anywhere_in_a_body_are_redacted(
    upstream: SimServer, tmp_path: Path
) -> None:
    out = tmp_path / "rec.yaml"
    _, server = _proxy(upstream.base_url, out)
    body = {
        **_body("text-plain"),
        "provider": {"options": {"deep": {"client_secret": "hush-hush-value"}}},
        "password": "pw123",
        "max_output_tokens": 77,
    }
    with server, httpx.Client(base_url=server.url) as client:
        client.post("/api/v1/responses", json=body, headers={"Authorization": f"Bearer {SECRET}"})
    data = out.read_bytes()
    assert b"hush-hush-value" not in data and b"pw123" not in data
    recorded = load_cassette(out).interactions[0].request.body
    assert recorded["provider"]["options"]["deep"]["client_secret"] == "REDACTED"
    assert recorded["max_output_tokens"] == 77  # a name with "tokens" is not a credential
