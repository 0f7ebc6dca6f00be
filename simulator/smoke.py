"""`orsim smoke`: start the fake OpenRouter on loopback serving a cassette directory, replay
every cassette through the official `openai` SDK, print a table, fail if any replay is wrong.

Each cassette's expected outcome is derived from the cassette (simulator/cassettes/expect.py):
a streamed answer must end with the recorded terminal event, an HTTP error must raise the SDK
exception for its status, a nested error event must raise `openai.APIError`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import openai
from rich.console import Console
from rich.table import Table

from simulator.cassettes.expect import Expectation, expectation
from simulator.cassettes.format import Cassette, CassetteError, load_cassettes
from simulator.cassettes.player import CassettePlayer
from simulator.openrouter.server import SimServer

SDK_ERROR_BY_STATUS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def sdk_error_class(status: int) -> type[openai.APIStatusError]:
    if status >= 500:
        return openai.InternalServerError
    return SDK_ERROR_BY_STATUS.get(status, openai.APIStatusError)


@dataclass
class SmokeRow:
    cassette: str
    request: str
    events: int
    outcome: str
    ok: bool
    ms: float


def _kwargs(cassette: Cassette, index: int) -> dict:
    body = dict(cassette.interactions[index].request.body or {})
    body.pop("stream", None)
    return body


def replay_one(client: openai.OpenAI, cassette: Cassette, index: int = 0) -> SmokeRow:
    """Stream one interaction through the SDK and compare with the cassette's expectation."""
    expect: Expectation = expectation(cassette, index)
    label = cassette.name if len(cassette.interactions) == 1 else f"{cassette.name}#{index}"
    started = time.perf_counter()
    events: list = []
    try:
        stream = client.responses.create(**_kwargs(cassette, index), stream=True)
        for event in stream:
            events.append(event)
    except openai.APIStatusError as exc:
        ms = (time.perf_counter() - started) * 1000
        wanted = sdk_error_class(expect.status)
        ok = (
            expect.kind == "http_error" and type(exc) is wanted and exc.status_code == expect.status
        )
        outcome = f"{type(exc).__name__} {exc.status_code}"
        return SmokeRow(label, "stream", 0, outcome, ok, ms)
    except openai.APIError as exc:
        ms = (time.perf_counter() - started) * 1000
        ok = expect.kind == "sdk_error" and exc.message == expect.message
        return SmokeRow(label, "stream", len(events), f"APIError: {exc.message}", ok, ms)
    ms = (time.perf_counter() - started) * 1000
    numbers = [e.sequence_number for e in events]
    last = events[-1].type if events else "(none)"
    ok = last == expect.stream_end and numbers == list(range(len(events)))
    ok = ok and len(events) == expect.events
    outcome = last
    if last == "response.completed":
        text = events[-1].response.output_text
        calls = [o.name for o in events[-1].response.output if o.type == "function_call"]
        outcome += f": {text[:28]!r}" if text else f": calls {', '.join(calls)}"
    elif last == "error":
        outcome += f": {events[-1].message}"
    return SmokeRow(label, "stream", len(events), outcome, ok, ms)


def run_smoke(cassette_dir: str | Path = "cassettes") -> list[SmokeRow]:
    cassettes = load_cassettes(cassette_dir)
    rows: list[SmokeRow] = []
    with SimServer(player=CassettePlayer(cassettes)) as sim:
        client = openai.OpenAI(base_url=sim.base_url, api_key=sim.api_key, max_retries=0)
        with client:
            for cassette in cassettes:
                for index in range(len(cassette.interactions)):
                    rows.append(replay_one(client, cassette, index))
    return rows


def render(rows: list[SmokeRow], console: Console) -> None:
    table = Table(title="orsim smoke: starter cassettes through the openai SDK")
    for column in ("cassette", "request", "events", "outcome", "ok", "ms"):
        table.add_column(column, justify="right" if column in {"events", "ms"} else "left")
    for row in rows:
        mark = "[green]ok[/green]" if row.ok else "[bold red]FAIL[/bold red]"
        table.add_row(
            row.cassette, row.request, str(row.events), row.outcome, mark, f"{row.ms:.1f}"
        )
    console.print(table)
    failed = sum(not r.ok for r in rows)
    console.print(f"{len(rows) - failed}/{len(rows)} ok" + (f", {failed} FAILED" if failed else ""))


def main(cassette_dir: str | Path = "cassettes", console: Console | None = None) -> int:
    console = console or Console(width=None if sys.stdout.isatty() else 120)
    try:
        rows = run_smoke(cassette_dir)
    except CassetteError as exc:
        console.print(f"[bold red]smoke: {exc}[/bold red]")
        return 2
    render(rows, console)
    return 0 if rows and all(r.ok for r in rows) else 1
