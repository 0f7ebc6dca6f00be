"""The load test's answer checks (loadtests/streamcheck.py) and threshold judging
(simulator/load/results.py): cross-talk, cut and garbled answers, busy and error answers."""

from __future__ import annotations

from loadtests.streamcheck import StreamCheck, load_prompt
from simulator.load.profiles import Thresholds
from simulator.load.results import Summary, judge
from simulator.openrouter.loadgen import token_text


def tokens(nonce: str, seqs, stamp_us: int) -> str:
    return "".join(token_text(nonce, n, f"{stamp_us:016d}") for n in seqs)


def test_prompt_carries_nonce_tokens_and_upstream_settings():
    assert load_prompt("n1", 5, "tps=40") == "Load test chat. [orsim-load nonce=n1 tokens=5 tps=40]"


def test_lag_is_arrival_minus_stamp_per_whole_token_even_when_split_across_chunks():
    check = StreamCheck("n1", 3)
    text = tokens("n1", range(3), 1_000_000_000_000_000)
    lags = check.feed(text[:7], arrived=1_000_000_000.010)  # half a token: no lag yet
    assert lags == []
    lags = check.feed(text[7:], arrived=1_000_000_000.025)
    assert [round(x) for x in lags] == [25, 25, 25]
    assert check.verdict().kind == "ok"


def test_a_foreign_token_is_crosstalk():
    check = StreamCheck("mine", 2)
    check.feed(tokens("mine", [0], 1) + tokens("theirs", [1], 1))
    verdict = check.verdict()
    assert verdict.kind == "crosstalk" and "theirs" in verdict.detail


def test_a_short_answer_is_incomplete():
    check = StreamCheck("n", 5)
    check.feed(tokens("n", range(3), 1))
    assert check.verdict().kind == "incomplete"


def test_a_missing_token_or_stray_text_is_garbled():
    check = StreamCheck("n", 3)
    check.feed(tokens("n", [0, 2], 1))
    assert check.verdict().kind == "garbled"
    check = StreamCheck("n", 1)
    check.feed("hello " + tokens("n", [0], 1))
    assert check.verdict().kind == "garbled"


def test_busy_and_upstream_errors_are_named_by_their_title():
    busy = StreamCheck("n", 3)
    busy.feed("### ⚠️ Server busy\n3 requests are running")
    assert busy.verdict().kind == "busy"
    err = StreamCheck("n", 3)
    err.feed(tokens("n", [0], 1))
    err.feed("\n\n### ⚠️ Rate limited by OpenRouter\nToo many")
    assert err.verdict().kind == "error: Rate limited by OpenRouter"


def test_empty_answer():
    assert StreamCheck("n", 3).verdict().kind == "empty"


def test_judge_passes_a_clean_run_and_names_each_missed_threshold():
    clean = Summary(chats=50, ttft=(100.0, 300.0), lag=(20.0, 50.0))
    assert judge(clean, Thresholds(lag_p99_ms=60)) == []
    bad = Summary(
        chats=50,
        failed=3,
        failures={"crosstalk": 1, "incomplete": 2},
        lag=(20.0, 90.0),
        first_busy=10,
        first_admitted=50,
        busy_p99=2500.0,
        rss_growth_mb={7: 80.0},
    )
    found = judge(
        bad,
        Thresholds(
            lag_p99_ms=60,
            busy_first_wave=(30, 39),
            first_wave=90,
            busy_p99_ms=1000,
            rss_growth_mb=30,
        ),
    )
    text = "\n".join(found)
    for expected in (
        "cross-talk",
        "3 of 50 chats failed (crosstalk 1, incomplete 2)",
        "delivery lag p99 90.0",
        "10 first chats got 'busy'",
        "30 first chats never finished",
        "not immediate",
        "worker 7 RSS grew 80.0 MB",
    ):
        assert expected in text, (expected, text)
