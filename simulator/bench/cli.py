"""`orsim bench ...`: the benchmarks that print numbers (each imports its implementation lazily,
so `orsim --help` stays fast)."""

from __future__ import annotations

from enum import StrEnum

import typer

bench_app = typer.Typer(help="Benchmarks that print numbers.", no_args_is_help=True)


@bench_app.command("pipe")
def bench_pipe_cmd(
    events: int = typer.Option(1000, "--events", help="Events per streamed answer."),
    rounds: int = typer.Option(5, "--rounds", help="Alternating baseline/pipe rounds."),
    tps: float = typer.Option(2000.0, "--tps", help="Upstream pacing in tokens/s (0: burst)."),
    ttft_samples: int = typer.Option(60, "--ttft-samples", help="Short streams for TTFT p50."),
    json_out: str = typer.Option(None, "--json", help="Also write the results as JSON here."),
) -> None:
    """Pipe CPU per 1,000 streamed events vs a bare httpx client, and TTFT added by the pipe."""
    from simulator.bench.pipe import cli_main

    raise typer.Exit(cli_main(events, rounds, tps, ttft_samples, json_out))


class StorePart(StrEnum):
    replay = "replay"
    writebehind = "writebehind"


class WbDatabase(StrEnum):
    sqlite = "sqlite"
    postgresql = "postgresql"


@bench_app.command("store")
def bench_store_cmd(
    turns: int = typer.Option(
        200, "--turns", help="Turns (3 artifacts each) written per database."
    ),
    samples: int = typer.Option(40, "--samples", help="TTFT samples with and without replay."),
    json_out: str = typer.Option(None, "--json", help="Also write the results as JSON here."),
    parts: list[StorePart] = typer.Option(
        [StorePart.replay, StorePart.writebehind],
        "--part",
        help="Which part (repeatable): replay (one process) or writebehind (K workers).",
    ),
    wb_turns: int = typer.Option(200, "--wb-turns", min=1, help="Write-behind: turns per worker."),
    wb_workers: list[int] = typer.Option(
        [1, 2, 4],
        "--wb-workers",
        min=1,
        help="Write-behind: worker processes (repeatable).",
    ),
    wb_databases: list[WbDatabase] = typer.Option(
        [WbDatabase.sqlite, WbDatabase.postgresql],
        "--wb-database",
        help="Write-behind: databases (repeatable).",
    ),
    wb_rate: float = typer.Option(
        0.0, "--wb-rate", min=0.0, help="Write-behind: turns/s per worker (0: back to back)."
    ),
) -> None:
    """Artifact writes/s, replay load p50/p99, the TTFT a 50-turn replay adds (SQLite,
    PostgreSQL), and write-behind vs direct writes with 1, 2 and 4 worker processes."""
    from simulator.bench.store import main

    raise typer.Exit(
        main(
            turns,
            samples,
            json_out,
            parts=[p.value for p in parts],
            wb_turns=wb_turns,
            wb_workers=wb_workers,
            wb_databases=[d.value for d in wb_databases],
            wb_rate=wb_rate,
        )
    )


@bench_app.command("connections")
def bench_connections_cmd(
    chats: int = typer.Option(2000, "--chats", help="Sequential streamed chats."),
    words: int = typer.Option(20, "--words", help="Words per streamed answer."),
    json_out: str = typer.Option(None, "--json", help="Also write the results as JSON here."),
) -> None:
    """Upstream TCP connections the pipe opens over N sequential streamed chats (reuse)."""
    from simulator.bench.connections import cli_main

    raise typer.Exit(cli_main(chats, words, json_out))


@bench_app.command("simulator")
def bench_simulator_cmd(
    clients: list[int] = typer.Option(
        [1, 4, 16], "--clients", help="Concurrent clients (repeatable)."
    ),
    events: int = typer.Option(2000, "--events", help="Events in the replayed stream."),
    requests: int = typer.Option(
        0, "--requests", help="Streams per level (default: 4 x clients, >= 8)."
    ),
) -> None:
    """SSE events/s the fake OpenRouter serves (one worker, instant replay) and its added TTFB."""
    from simulator.bench.simulator import cli_main

    raise typer.Exit(cli_main(clients, events, requests))


@bench_app.command("openwebui")
def bench_openwebui_cmd(
    function: str = typer.Option(
        None, "--function", help="Candidate function file (default: the exported production pipe)."
    ),
    deltas: int = typer.Option(2000, "--deltas", help="Text deltas per streamed answer."),
    rounds: int = typer.Option(
        5, "--rounds", help="Alternating bare/candidate rounds per scenario."
    ),
    concurrency: int = typer.Option(
        10, "--concurrency", help="Chats at once in the conc scenarios."
    ),
    tps: float = typer.Option(1000.0, "--tps", help="Paced upstream: one-token deltas per second."),
    candidate_model: str = typer.Option(
        None, "--candidate-model", help="Sub-model of a manifold candidate (default: first listed)."
    ),
    valve: list[str] = typer.Option([], "--valve", help="Candidate valve KEY=VALUE (repeatable)."),
    scenarios: str = typer.Option(
        "burst/seq,paced/seq,burst/conc,paced/conc,live/seq,live/conc",
        "--scenarios",
        help="Comma-separated subset (live: 75 tokens/s, 300 deltas).",
    ),
    json_out: str = typer.Option(None, "--json", help="Also write the results as JSON here."),
    repeat: int = typer.Option(
        1, "--repeat", help="Whole runs in the same server; medians printed when more than one."
    ),
) -> None:
    """Real Open WebUI server CPU and first-byte time per streamed chat: candidate vs a bare pipe."""
    from simulator.bench.openwebui import cli_main

    raise typer.Exit(
        cli_main(
            function,
            deltas,
            rounds,
            concurrency,
            tps,
            candidate_model,
            valve,
            scenarios,
            json_out,
            repeat,
        )
    )
