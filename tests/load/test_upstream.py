"""The fake OpenRouter's load-test answers (simulator/openrouter/loadgen.py): a marker in the
user message asks for stamped, nonce-bearing tokens; bad markers are clear 400s."""

from __future__ import annotations

import itertools
import re
import time

import httpx
import pytest

from loadtests.streamcheck import TOKEN, StreamCheck, load_prompt
from simulator.openrouter.loadgen import STAMP
from tests.sim.sse import events


def post(sim, text: str, *, stream: bool = True) -> httpx.Response:
    body = {"model": "openai/gpt-4o", "input": text, "stream": stream}
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    return httpx.post(f"{sim.base_url}/responses", json=body, headers=headers, timeout=10)


def deltas(response: httpx.Response) -> list[str]:
    return [
        e["delta"] for e in events(response.content) if e["type"] == "response.output_text.delta"
    ]


def test_marker_streams_one_stamped_token_per_delta_with_the_nonce(openrouter_sim):
    before_us = time.time_ns() // 1000
    r = post(openrouter_sim, load_prompt("abc123", 25))
    after_us = time.time_ns() // 1000
    assert r.status_code == 200
    pieces = deltas(r)
    assert len(pieces) == 25
    for seq, piece in enumerate(pieces):
        m = TOKEN.fullmatch(piece)
        assert m, piece
        assert (m.group(1), int(m.group(2))) == ("abc123", seq)
        assert before_us <= int(m.group(3)) <= after_us  # stamped when sent, not a placeholder
    assert STAMP not in "".join(pieces)


def test_stamps_follow_the_pacing(openrouter_sim):
    r = post(openrouter_sim, load_prompt("pace1", 6, "tps=50"))
    stamps = [int(TOKEN.fullmatch(p).group(3)) for p in deltas(r)]
    gaps_ms = [(b - a) / 1000 for a, b in itertools.pairwise(stamps)]
    assert all(g >= 15 for g in gaps_ms), gaps_ms  # 20 ms apart at 50 tokens/s


def test_an_answer_fed_to_streamcheck_is_ok_and_its_own(openrouter_sim):
    r = post(openrouter_sim, load_prompt("mine1", 30))
    check = StreamCheck("mine1", 30)
    lags = check.feed("".join(deltas(r)))
    assert check.verdict().kind == "ok" and len(lags) == 30
    other = StreamCheck("other", 30)
    other.feed("".join(deltas(r)))
    assert other.verdict().kind == "crosstalk"


def test_without_the_marker_the_default_echo_is_unchanged(openrouter_sim):
    r = post(openrouter_sim, "plain words")
    assert events(r.content)[-1]["response"]["output_text"] == "You said: plain words"


def test_non_streaming_requests_ignore_the_marker(openrouter_sim):
    r = post(openrouter_sim, load_prompt("n1", 3), stream=False)
    assert r.json()["output_text"].startswith("You said: ")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("nonce=bad-nonce! tokens=3", "nonce must be"),
        ("nonce=a tokens=0", "tokens must be"),
        ("nonce=a tokens=many", "invalid literal"),
        ("nonce=a tokens=3 fail=2", "fail/r429"),
        ("nonce=a tokens=3 colour=blue", "unknown keys"),
        ("nonce=a tokens=3 tps=-1", "tps"),
        ("nonce=a loose", "not key=value"),
    ],
)
def test_a_bad_marker_is_a_clear_400(openrouter_sim, settings, message):
    r = post(openrouter_sim, f"[orsim-load {settings}]")
    assert r.status_code == 400
    assert re.search(message, r.json()["error"]["message"])


def test_error_shares_answer_429_and_503(openrouter_sim):
    assert post(openrouter_sim, load_prompt("r1", 3, "r429=1")).status_code == 429
    r = post(openrouter_sim, load_prompt("f1", 3, "fail=1"))
    assert r.status_code == 503 and r.headers["retry-after"]
