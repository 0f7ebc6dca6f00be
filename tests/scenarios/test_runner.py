"""The scenario machinery itself: failures are caught and explained, bad files are refused."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from simulator.scenarios.expect import subset_diff
from simulator.scenarios.model import ScenarioFileError, load_scenario_file
from simulator.scenarios.report import write_junit
from simulator.scenarios.suite import run_paths

WRONG = """
scenarios:
  - name: expects the wrong text
    turns:
      - user: Hi
        upstream:
          - script: {text: "Actual answer."}
            expect_request:
              match: {model: some/other-model}
        expect:
          content: "Expected answer."
          upstream_calls: 1
  - name: expects a tool call that never happens
    tools:
      lookup: {behaviour: {returns: "x"}}
    turns:
      - user: Hi
        upstream:
          - script: {text: "No tools needed."}
        expect:
          tool_calls: [{name: lookup}]
  - name: passes
    turns:
      - user: Hi
        upstream:
          - script: {text: "Fine."}
        expect: {content: "Fine."}
"""


@pytest.fixture(scope="module")
def wrong_results(tmp_path_factory):
    path = tmp_path_factory.mktemp("sc") / "wrong.yaml"
    path.write_text(WRONG)
    return run_paths([path])


def test_wrong_expectations_fail_with_the_first_difference(wrong_results) -> None:
    by_name = {r.name: r for r in wrong_results}
    failures = by_name["expects the wrong text"].failures
    assert not by_name["expects the wrong text"].passed
    assert any(
        '$.model: expected "some/other-model", got "openai/gpt-4o-mini"' in f for f in failures
    ), failures
    assert not by_name["expects a tool call that never happens"].passed
    assert (
        "expected ['lookup'], got []"
        in by_name["expects a tool call that never happens"].failures[0]
    )
    assert by_name["passes"].passed and by_name["passes"].upstream_calls == 1


def test_junit_report(wrong_results, tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    write_junit(wrong_results, out)
    suite = ET.parse(out).getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "2"
    assert len(suite.findall("testcase/failure")) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nturns: [{user: hi, upstream: [{}]}]\n", "exactly one of"),
        ("name: x\nturns: []\nbogus: 1\n", "bogus"),
        ("name: [unclosed\n", "cannot read YAML"),
        ("turns: []\n", "name"),
    ],
)
def test_invalid_scenario_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioFileError, match=message) as info:
        load_scenario_file(path)
    assert str(path) in str(info.value)


def test_subset_diff_rules() -> None:
    assert subset_diff({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) is None
    assert subset_diff({"a": [1, 2]}, {"a": [1]}) == "$.a: expected 2 items, got 1: [1]"
    assert subset_diff({"t": "~ell"}, {"t": "hello"}) is None
    assert subset_diff({"t": "<any>"}, {"t": None}) is None
    assert "missing" in subset_diff({"x": 1}, {})


def test_orsim_run_exits_non_zero_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text(WRONG)
    junit = tmp_path / "j.xml"
    res = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "run", str(path), "--junit", str(junit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    assert "expects the wrong text" in res.stdout and "1/3 scenarios passed" in res.stdout
    assert junit.exists()
