"""Matching rules and the player: normalised bodies, ignore paths, order, once-only, misses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cassettes.format import (
    Cassette,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    load_cassette,
)
from simulator.cassettes.matching import Matcher, NoMatchError, normalise_body
from simulator.cassettes.player import CassettePlayer
from simulator.cassettes.sse import decode_events

ROOT = Path(__file__).resolve().parents[2]
PATH = "/api/v1/responses"


def _json(status: int, body: dict) -> RecordedResponse:
    return RecordedResponse(
        status=status, headers=[("content-type", "application/json")], body=body
    )


def _cassette(*pairs: tuple[dict, RecordedResponse], name: str = "c") -> Cassette:
    return Cassette(
        name=name,
        synthesised=True,
        interactions=[
            Interaction(request=RecordedRequest(method="POST", path=PATH, body=b), response=r)
            for b, r in pairs
        ],
    )


def _body(played) -> dict:
    return json.loads(b"".join(c.data for c in played.chunks))


async def test_matches_on_method_path_and_normalised_body() -> None:
    player = CassettePlayer(
        _cassette(({"model": "m", "input": "hi", "stream": True}, _json(200, {"n": 1})))
    )
    played = await player.play("post", PATH, {}, {"input": "hi", "model": "m", "stream": False})
    assert _body(played) == {"n": 1}


async def test_method_path_and_body_differences_do_not_match() -> None:
    cassette = _cassette(({"model": "m"}, _json(200, {})))
    for method, path, body in [
        ("GET", PATH, {"model": "m"}),
        ("POST", "/api/v1/other", {"model": "m"}),
        ("POST", PATH, {"model": "x"}),
    ]:
        with pytest.raises(NoMatchError):
            await CassettePlayer(cassette).play(method, path, {}, body)


async def test_ignore_paths_with_wildcards() -> None:
    recorded = {
        "model": "m",
        "user": "u1",
        "metadata": {"session_id": "s1", "keep": "k"},
        "input": [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}],
    }
    player = CassettePlayer(
        _cassette((recorded, _json(200, {"ok": True}))),
        ignore_paths=["user", "metadata.session_id", "input.*.id"],
    )
    got = {
        "model": "m",
        "user": "u2",
        "metadata": {"session_id": "s2", "keep": "k"},
        "input": [{"id": "c", "text": "x"}, {"id": "d", "text": "y"}],
    }
    assert _body(await player.play("POST", PATH, {}, got)) == {"ok": True}
    player.reset()
    got["metadata"]["keep"] = "changed"  # not ignored
    with pytest.raises(NoMatchError, match=r"metadata\.keep"):
        await player.play("POST", PATH, {}, got)


async def test_identical_requests_replay_in_order_once_each() -> None:
    body = {"model": "m", "input": "same"}
    player = CassettePlayer(
        _cassette((body, _json(200, {"turn": 1})), (body, _json(200, {"turn": 2})))
    )
    assert _body(await player.play("POST", PATH, {}, body)) == {"turn": 1}
    assert _body(await player.play("POST", PATH, {}, body)) == {"turn": 2}
    with pytest.raises(NoMatchError, match="already played") as info:
        await player.play("POST", PATH, {}, body)
    assert isinstance(info.value, LookupError)
    assert player.unplayed() == []
    player.reset()
    assert _body(await player.play("POST", PATH, {}, body)) == {"turn": 1}


async def test_allow_repeats_replays_the_last_match() -> None:
    body = {"model": "m"}
    player = CassettePlayer(
        _cassette((body, _json(200, {"turn": 1})), (body, _json(200, {"turn": 2}))),
        allow_repeats=True,
    )
    turns = [_body(await player.play("POST", PATH, {}, body))["turn"] for _ in range(4)]
    assert turns == [1, 2, 2, 2]


async def test_no_match_names_closest_candidate_and_first_difference() -> None:
    player = CassettePlayer(
        [
            _cassette(
                ({"model": "a", "input": [{"role": "user", "content": "zzz"}]}, _json(200, {})),
                name="far",
            ),
            _cassette(
                (
                    {"model": "m", "input": [{"role": "user", "content": "Hello"}], "tools": []},
                    _json(200, {}),
                ),
                name="near",
            ),
        ]
    )
    with pytest.raises(NoMatchError) as info:
        await player.play(
            "POST",
            PATH,
            {},
            {"model": "m", "input": [{"role": "user", "content": "Hullo"}], "tools": []},
        )
    message = str(info.value)
    assert "Closest: cassette 'near' interaction #0" in message
    assert "body at `input.0.content`: expected 'Hello', got 'Hullo'" in message


async def test_no_match_explains_method_path_missing_key_and_empty_player() -> None:
    player = CassettePlayer(_cassette(({"model": "m", "temperature": 0.2}, _json(200, {}))))
    with pytest.raises(NoMatchError, match="first difference in method: expected POST, got GET"):
        await player.play("GET", PATH, {}, None)
    with pytest.raises(NoMatchError, match="path: expected /api/v1/responses, got /api/v1/chat"):
        await player.play("POST", "/api/v1/chat", {}, {"model": "m"})
    with pytest.raises(
        NoMatchError, match=r"body at `temperature`: expected 0.2, got nothing \(key absent\)"
    ):
        await player.play("POST", PATH, {}, {"model": "m"})
    with pytest.raises(NoMatchError, match="no interactions"):
        await CassettePlayer([]).play("POST", PATH, {}, {})


def test_normalisation_and_bad_ignore_path() -> None:
    assert normalise_body({"b": 1, "a": {"d": 2, "c": 3}, "stream": True}) == {
        "a": {"c": 3, "d": 2},
        "b": 1,
    }
    assert normalise_body([{"id": 1}], ["*.id"]) == [{}]
    with pytest.raises(ValueError, match="bad JSON path"):
        Matcher([], ("metadata..x",))


async def test_stream_recording_answers_json_from_terminal_event() -> None:
    player = CassettePlayer(ROOT / "cassettes" / "text-plain.yaml")
    body = load_cassette(ROOT / "cassettes" / "text-plain.yaml").interactions[0].request.body
    played = await player.play("POST", PATH, {}, {**body, "stream": False})
    assert ("content-type", "application/json") in played.headers
    result = _body(played)
    assert result["object"] == "response" and result["status"] == "completed"
    assert result["output_text"].startswith("Bonjour")


async def test_stream_without_terminal_event_answers_502_json() -> None:
    body = load_cassette(ROOT / "cassettes" / "stream-error-flat.yaml").interactions[0].request.body
    played = await CassettePlayer(ROOT / "cassettes").play(
        "POST", PATH, {}, {**body, "stream": False}
    )
    assert played.status == 502
    assert _body(played) == {"error": {"code": 502, "message": "Upstream provider disconnected"}}


async def test_json_recording_answers_a_canonical_stream() -> None:
    streamed = load_cassette(ROOT / "cassettes" / "function-call.yaml")
    events = [
        e
        for e in decode_events(streamed.interactions[0].response.raw_stream())
        if isinstance(e, dict)
    ]
    final = events[-1]["response"]
    player = CassettePlayer(_cassette(({"model": "m"}, _json(200, final))), chunking="event")
    played = await player.play("POST", PATH, {}, {"model": "m", "stream": True})
    assert ("content-type", "text/event-stream") in played.headers
    decoded = decode_events(b"".join(c.data for c in played.chunks))
    types = [e["type"] for e in decoded if isinstance(e, dict)]
    assert decoded[-1] == "[DONE]"
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert "response.function_call_arguments.done" in types
    assert [e["sequence_number"] for e in decoded if isinstance(e, dict)] == list(range(len(types)))


async def test_error_recordings_replay_status_headers_and_body() -> None:
    cassette = load_cassette(ROOT / "cassettes" / "error-429.yaml")
    body = cassette.interactions[0].request.body
    played = await CassettePlayer(cassette).play("POST", PATH, {}, body)
    assert played.status == 429
    assert ("retry-after", "7") in played.headers
    assert _body(played)["error"]["code"] == 429


async def test_override_headers_choose_chunking_and_speed_per_request() -> None:
    cassette = load_cassette(ROOT / "cassettes" / "text-plain.yaml")
    body = cassette.interactions[0].request.body
    player = CassettePlayer(cassette, speed=1.0, allow_repeats=True)
    default = await player.play("POST", PATH, {}, body)
    assert default.chunks[0].delay > 0
    override = await player.play(
        "POST", PATH, {"X-Sim-Chunking": "bytes:5", "X-Sim-Speed": "instant"}, body
    )
    assert all(c.delay == 0 for c in override.chunks) and len(override.chunks[0].data) == 5
    with pytest.raises(NoMatchError, match="bad replay override header"):
        await player.play("POST", PATH, {"x-sim-chunking": "wobbly"}, body)
    with pytest.raises(ValueError, match="speed must be > 0"):
        CassettePlayer(cassette, speed=-1)
