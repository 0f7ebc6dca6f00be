"""Recorded cassettes replayed by the fake OpenRouter under every chunking plan the cassette
player offers: the pipe shows the same text, reasoning, citations and usage every time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.cassettes.convert import json_from_stream
from simulator.cassettes.format import load_cassettes
from simulator.cassettes.player import CassettePlayer
from simulator.openrouter.server import SimServer
from tests.pipe.helpers import Recorder, chat_body, make_pipe, run_pipe

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
PLANS = [
    "recorded",
    "event",
    "bytes:1",
    "bytes:7",
    "bytes:64",
    "split-utf8",
    "split-lines",
    "crlf",
    "crlf+bytes:3",
    "crlf+split-lines",
    "crlf+split-utf8",
]
STREAMS = {
    "text-plain": "openai.gpt-4o-mini",
    "reasoning-then-text": "openai.o4-mini",
    "web-search-citations": "openai.gpt-4o",
    "stream-incomplete": "openai.gpt-4o-mini",
}
# The pipe's request differs from the recorded one; match on path only.
IGNORE = [
    "model",
    "input",
    "reasoning",
    "include",
    "text",
    "tools",
    "tool_choice",
    "metadata",
    "max_output_tokens",
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "user",
    "session_id",
    "x-title",
    "instructions",
]


class SwitchPlayer:
    """Lets one running simulator replay whichever cassette player a test selects."""

    def __init__(self) -> None:
        self.current: CassettePlayer | None = None

    async def play(self, method: str, path: str, headers: dict[str, str], body: Any):
        assert self.current is not None
        return await self.current.play(method, path, headers, body)


@pytest.fixture(scope="module")
def replay_sim() -> Iterator[tuple[SimServer, SwitchPlayer]]:
    switch = SwitchPlayer()
    with SimServer(player=switch) as sim:
        yield sim, switch


def expected(name: str) -> dict[str, Any]:
    response = load_cassettes(CASSETTES / f"{name}.yaml")[0].interactions[0].response
    _, final = json_from_stream(response.raw_stream())
    text = "".join(
        part.get("text", "")
        for item in final["output"]
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )
    reasoning = "".join(
        s.get("text", "")
        for item in final["output"]
        if item["type"] == "reasoning"
        for s in item.get("summary") or []
    )
    urls = [
        a["url"]
        for item in final["output"]
        if item["type"] == "message"
        for part in item["content"]
        for a in part.get("annotations") or []
        if a.get("type") == "url_citation"
    ]
    return {
        "text": text,
        "reasoning": reasoning,
        "urls": list(dict.fromkeys(urls)),
        "usage": final.get("usage"),
    }


def _player(name: str, plan: str) -> CassettePlayer:
    """The starter cassette `name`, replayed instantly under a chunking plan."""
    return CassettePlayer(
        CASSETTES / f"{name}.yaml",
        chunking=plan,
        speed=None,
        ignore_paths=IGNORE,
        allow_repeats=True,
    )


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("name", list(STREAMS))
async def test_same_output_under_every_chunking_plan(replay_sim, name, plan):
    sim, switch = replay_sim
    switch.current = _player(name, plan)
    want = expected(name)
    rec = Recorder()
    out = await run_pipe(make_pipe(sim), chat_body("replay", model=STREAMS[name]), rec)
    assert want["text"], "the cassette should carry text"
    assert out.text == want["text"]
    assert out.reasoning == want["reasoning"]
    assert [s["data"]["source"]["url"] for s in rec.of_type("source")] == want["urls"]
    assert out.usage["prompt_tokens"] == want["usage"]["input_tokens"]
    assert out.usage["completion_tokens"] == want["usage"]["output_tokens"]


@pytest.mark.parametrize("plan", ["event", "bytes:5", "crlf+split-utf8"])
@pytest.mark.parametrize("name", ["stream-error-flat", "stream-error-nested", "stream-failed"])
async def test_recorded_stream_errors_under_chunking(replay_sim, name, plan):
    sim, switch = replay_sim
    switch.current = _player(name, plan)
    out = await run_pipe(make_pipe(sim, MAX_RETRIES=0), chat_body("replay"))
    assert "Error ID:" in out.text
    assert out.finish_reason is None  # an error ends the stream without a finish chunk
