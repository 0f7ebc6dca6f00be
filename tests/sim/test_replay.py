"""The server's cassette-player seam: precedence, no-match errors, chunk timing, and the
faults that also apply to replays (latency, 429, 5xx, disconnect after N events)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from simulator.cassettes.played import PlayedChunk, PlayedResponse
from simulator.openrouter import synth
from simulator.openrouter.server import SimServer
from simulator.openrouter.streaming import cut_after_events
from tests.sim.sse import events, has_done

BODY = {"model": "openai/gpt-4o", "input": "hi", "stream": True}
STREAM = synth.encode_stream(synth.build_events(synth.Script(text="from the cassette")))


class OnePlayer:
    """A real (if small) player: answers `hello` requests with a recorded stream, split into
    two chunks, and raises LookupError otherwise."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []
        self.resets = 0

    async def play(self, method, path, headers, body):
        self.calls.append((method, path, body))
        if body.get("input") != "hi":
            raise LookupError(
                "closest candidate 'hello' differs at input: 'hi' != " + repr(body["input"])
            )
        mid = len(STREAM) // 2
        return PlayedResponse(
            200,
            [
                ("content-type", "text/event-stream"),
                ("x-generation-id", "gen-rec"),
                ("content-length", "9"),
            ],
            [PlayedChunk(0.0, STREAM[:mid]), PlayedChunk(0.01, STREAM[mid:])],
        )

    def reset(self) -> None:
        self.resets += 1


@pytest.fixture
def player_sim():
    player = OnePlayer()
    with SimServer(player=player) as sim:
        yield sim, player


def post(sim, body=BODY, headers=None):
    h = {"Authorization": f"Bearer {sim.api_key}", **(headers or {})}
    return httpx.post(f"{sim.base_url}/responses", json=body, headers=h, timeout=10)


def test_player_answers_with_recorded_bytes(player_sim):
    sim, player = player_sim
    r = post(sim)
    assert r.status_code == 200 and r.content == STREAM
    assert r.headers["x-generation-id"] == "gen-rec"
    assert r.headers.get("content-length") is None  # recorded framing headers are dropped
    assert player.calls[0][:2] == ("POST", "/api/v1/responses")


def test_queue_wins_over_player(player_sim):
    sim, player = player_sim
    sim.enqueue({"script": {"text": "queued"}})
    assert events(post(sim).content)[-1]["response"]["output_text"] == "queued"
    assert player.calls == []


def test_no_match_is_400_with_explanation(player_sim):
    sim, _ = player_sim
    r = post(sim, {**BODY, "input": "other"})
    assert r.status_code == 400 and r.headers["x-sim-no-match"] == "1"
    assert "closest candidate 'hello'" in r.json()["error"]["message"]


def test_validation_runs_before_player(player_sim):
    sim, player = player_sim
    assert post(sim, {**BODY, "store": True}).status_code == 400
    assert player.calls == []


def test_reset_rewinds_player(player_sim):
    sim, player = player_sim
    sim.reset()
    httpx.post(sim.root_url + "/_sim/reset")
    assert player.resets == 2


def test_replay_faults(player_sim):
    sim, _ = player_sim
    assert post(sim, headers={"X-Sim-Fault": "rate_limit;count=1"}).status_code == 429
    assert post(sim, headers={"X-Sim-Fault": "server_error;status=502"}).status_code == 502
    assert post(sim, headers={"X-Sim-Fault": "latency;seconds=0.01"}).content == STREAM
    cut = post(sim, headers={"X-Sim-Fault": "disconnect;after=4"})
    assert len(events(cut.content)) == 4 and not has_done(cut.content)


def test_cut_after_events_splits_chunks_and_skips_comments():
    chunks = [
        PlayedChunk(0.0, STREAM[:7]),
        PlayedChunk(0.5, STREAM[7:40]),
        PlayedChunk(0.1, STREAM[40:]),
    ]
    cut = cut_after_events(chunks, 1)
    body = b"".join(c.data for c in cut)
    assert body.startswith(synth.KEEPALIVE) and len(events(body)) == 1
    assert body.endswith(b"\n\n")
    assert [c.delay for c in cut][:2] == [0.0, 0.5]
    assert b"".join(c.data for c in cut_after_events(chunks, 10_000)) == STREAM
    crlf = [PlayedChunk(0.0, STREAM.replace(b"\n", b"\r\n"))]
    assert len(events(b"".join(c.data for c in cut_after_events(crlf, 2)))) == 2


STARTERS = Path(__file__).resolve().parents[2] / "cassettes"


@pytest.mark.skipif(not (STARTERS / "text-plain.yaml").exists(), reason="starter cassettes absent")
def test_real_cassette_player_through_server():
    from simulator.cassettes.format import load_cassette
    from simulator.cassettes.player import CassettePlayer

    cassette = load_cassette(STARTERS / "text-plain.yaml")
    body = cassette.interactions[0].request.body
    with SimServer(player=CassettePlayer([cassette])) as sim:
        r = post(sim, body)
        assert r.status_code == 200, r.text
        evs = events(r.content)
        assert evs[-1]["type"] == "response.completed" and has_done(r.content)
        again = post(sim, body)  # each interaction plays once
        assert again.status_code == 400 and again.headers["x-sim-no-match"] == "1"
