"""Show scenario results: a table, failure explanations, and JUnit XML for CI systems."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table

from simulator.scenarios.runner import ScenarioResult


def print_report(results: list[ScenarioResult], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="Scenarios")
    fleet = any(any(r.workers) for r in results)  # some turn ran on a worker other than 0
    columns = [
        ("scenario", "left"),
        ("result", "left"),
        ("upstream calls", "right"),
        ("tool calls", "right"),
        ("wall ms", "right"),
    ]
    if fleet:
        columns.append(("workers (per turn)", "left"))
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for r in results:
        mark = "[green]pass[/green]" if r.passed else "[red]FAIL[/red]"
        row = [r.name, mark, str(r.upstream_calls), str(r.tool_calls), f"{r.seconds * 1000:.0f}"]
        if fleet:
            row.append(served_by(r))
        table.add_row(*row)
    console.print(table)
    for r in results:
        if r.passed:
            continue
        console.print(f"[red]--- {r.name}[/red] ({r.scenario.source})")
        for failure in r.failures:
            console.print(f"  - {failure}", markup=False, highlight=False)
    passed = sum(r.passed for r in results)
    total_s = sum(r.seconds for r in results)
    console.print(f"{passed}/{len(results)} scenarios passed in {total_s:.2f} s")


def served_by(result: ScenarioResult) -> str:
    """`w0 w1 w0`: the worker that played each turn."""
    return " ".join(f"w{w}" for w in result.workers)


def write_junit(results: list[ScenarioResult], path: Path) -> None:
    suite = ET.Element(
        "testsuite",
        name="orsim scenarios",
        tests=str(len(results)),
        failures=str(sum(not r.passed for r in results)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=Path(r.scenario.source).stem or "scenarios",
            name=r.name,
            time=f"{r.seconds:.3f}",
        )
        if any(r.workers):
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="workers", value=served_by(r))
        if not r.passed:
            failure = ET.SubElement(case, "failure", message=r.failures[0][:200])
            failure.text = "\n".join(r.failures)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
