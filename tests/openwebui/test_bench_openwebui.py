"""`orsim bench openwebui` in miniature: it measures, it checks answers, it reports bad input."""

from __future__ import annotations

import pytest

from simulator.bench.openwebui import (
    Bench,
    BenchConfig,
    BenchError,
    ChatSample,
    ScenarioResult,
    cli_main,
    format_medians,
    format_table,
    median_rows,
    parse_valves,
)
from simulator.openrouter.server import SimServer
from tests.openwebui.conftest import PIPES


@pytest.fixture
def sim():
    with SimServer() as server:
        yield server


@pytest.mark.openwebui
async def test_small_benchmark_measures_both_pipes(owui, sim):
    config = BenchConfig(
        deltas=60, rounds=2, concurrency=3, paced_tps=4000, live_deltas=20, live_tps=400
    )
    bench = Bench(owui, sim, config)
    bench.install()
    results = await bench.run()
    assert [r.name for r in results] == list(config.scenarios)
    for result in results:
        n = 3 if result.name.endswith("conc") else 1
        assert len(result.bare) == len(result.candidate) == 2 * n
        row = result.row()
        assert row["bare_cpu_s"] > 0 and row["candidate_cpu_s"] > 0
        assert row["ratio_ttfb_s"] > 0
    table = format_table(results, config)
    assert "paced/conc" in table and "live/conc" in table and "CPU ratio" in table


@pytest.mark.openwebui
async def test_candidate_that_loses_deltas_is_refused(owui, sim):
    config = BenchConfig(
        function=PIPES / "plain_pipe.py", deltas=20, rounds=1, scenarios=("burst/seq",)
    )
    bench = Bench(owui, sim, config)
    bench.install()
    with pytest.raises(BenchError, match="incomplete"):
        await bench.run()


@pytest.mark.openwebui
def test_unknown_candidate_sub_model_is_refused(owui, sim):
    bench = Bench(
        owui, sim, BenchConfig(function=PIPES / "manifold_pipe.py", candidate_model="gamma")
    )
    with pytest.raises(BenchError, match="not listed"):
        bench.install()
    bench.config.candidate_model = "alpha"
    bench.install()
    assert bench.models["candidate"] == "bench_candidate.alpha"


def test_valve_pairs_are_typed_and_checked():
    assert parse_valves(["A=1", "B=true", "C=text", 'D={"x": 1}']) == {
        "A": 1,
        "B": True,
        "C": "text",
        "D": {"x": 1},
    }
    with pytest.raises(BenchError, match="KEY=VALUE"):
        parse_valves(["novalue"])


def test_cli_rejects_bad_input_before_starting_anything(tmp_path, capsys):
    args = dict(deltas=10, rounds=1, concurrency=2, tps=1000.0, candidate_model=None, json_out=None)
    assert cli_main(None, valves=[], scenarios="burst/seq,warp/seq", **args) == 2
    assert "unknown scenario" in capsys.readouterr().out
    assert cli_main(str(tmp_path / "missing.py"), valves=[], scenarios="burst/seq", **args) == 2
    assert "not found" in capsys.readouterr().out
    assert (
        cli_main(str(PIPES / "plain_pipe.py"), valves=["oops"], scenarios="burst/seq", **args) == 2
    )
    assert "KEY=VALUE" in capsys.readouterr().out


def _result(name: str, bare_cpu: float, cand_cpu: float, ttfb: float) -> ScenarioResult:
    result = ScenarioResult(name)
    result.bare = [ChatSample(bare_cpu, 0.1, 1.0)]
    result.candidate = [ChatSample(cand_cpu, ttfb, 1.0)]
    return result


def test_repeated_runs_report_medians_and_each_runs_ratio():
    runs = [
        [_result("burst/seq", 0.100, 0.040, 0.05), _result("paced/seq", 0.5, 0.3, 0.05)],
        [_result("burst/seq", 0.100, 0.050, 0.07), _result("paced/seq", 0.5, 0.35, 0.05)],
        [_result("burst/seq", 0.100, 0.045, 0.20), _result("paced/seq", 0.5, 0.4, 0.05)],
    ]
    rows = median_rows(runs)
    burst = rows[0]
    assert burst["scenario"] == "burst/seq" and burst["runs"] == 3
    assert burst["ratio_cpu_s"] == pytest.approx(0.45)
    assert burst["cpu_ratios"] == pytest.approx([0.4, 0.5, 0.45])
    assert burst["ratio_ttfb_s"] == pytest.approx(0.7)  # medians, not means: 2.0 is an outlier
    assert rows[1]["ratio_cpu_s"] == pytest.approx(0.7)
    table = format_medians(rows)
    assert "Median of 3 runs" in table and "[0.40 0.50 0.45]" in table


def test_cli_rejects_a_repeat_below_one(capsys):
    args = dict(deltas=10, rounds=1, concurrency=2, tps=1000.0, candidate_model=None, json_out=None)
    code = cli_main(
        str(PIPES / "plain_pipe.py"), valves=[], scenarios="burst/seq", repeat=0, **args
    )
    assert code == 2 and "--repeat" in capsys.readouterr().out
