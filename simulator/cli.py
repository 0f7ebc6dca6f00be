"""`orsim`: the one command-line entry point of the platform.

Every command imports its implementation lazily so `orsim --help` stays fast and a
command's heavy dependencies load only when it runs.
"""

from __future__ import annotations

import typer

from simulator.bench.cli import bench_app

app = typer.Typer(
    name="orsim",
    help="Fake OpenRouter, fake Open WebUI host, cassettes, scenarios and benchmarks "
    "for the OpenRouter Responses pipe.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(bench_app, name="bench")
logs_app = typer.Typer(
    help="Session-log archives the pipe wrote (SESSION_LOG_ENABLED): list, open, replay.",
    no_args_is_help=True,
)
app.add_typer(logs_app, name="logs")
store_app = typer.Typer(
    help="The artifact store (reasoning and tool results kept between turns): stats, "
    "cleanup, re-encryption after a key change.",
    no_args_is_help=True,
)
app.add_typer(store_app, name="store")


# Commands are registered below, one block per command.


@app.command("run")
def run_cmd(
    paths: list[str] = typer.Argument(
        None, help="Scenario files or folders (default: scenarios/)."
    ),
    function: str = typer.Option(
        None, "--function", help="Function file to test (default: the freshly exported pipe)."
    ),
    junit: str = typer.Option(None, "--junit", help="Also write JUnit XML here."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the pipe's own log lines."),
    workers: int = typer.Option(
        1, "--workers", help="Worker processes; turn N of a chat runs on worker (N-1) mod K."
    ),
    redis: str = typer.Option(
        "", "--redis", help="Redis the workers share: a redis:// URL, or `auto` (started here)."
    ),
    database_url: str = typer.Option(
        "",
        "--database-url",
        help="PostgreSQL server for the artifact stores (one database per scenario): a "
        "postgresql:// URL of a role that may CREATE DATABASE, or `auto` (started here).",
    ),
) -> None:
    """Run scenario suites on the real stack (fake host + fake OpenRouter) and print a table."""
    import logging
    from pathlib import Path

    # Scenarios provoke failures on purpose; the pipe logs each one. Keep the report readable.
    logging.basicConfig(
        level=logging.INFO if verbose else logging.CRITICAL,
        format="%(levelname)s %(name)s: %(message)s",
    )

    from simulator.scenarios.fleet import FleetError
    from simulator.scenarios.model import ScenarioFileError
    from simulator.scenarios.report import print_report, write_junit
    from simulator.scenarios.suite import FleetOptions, run_paths

    try:
        fleet = FleetOptions(workers, redis, database_url, verbose)
        results = run_paths(
            [Path(p) for p in (paths or ["scenarios"])],
            Path(function) if function else None,
            fleet,
        )
    except ScenarioFileError as exc:
        typer.echo(f"invalid scenario: {exc}", err=True)
        raise typer.Exit(2) from exc
    except FleetError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    print_report(results)
    if junit:
        write_junit(results, Path(junit))
    if not results or not all(r.passed for r in results):
        raise typer.Exit(1)


@app.command("record")
def record_cmd(
    out: str = typer.Option(
        ..., "--out", "-o", help="Cassette file to write (appended if it exists)."
    ),
    upstream: str = typer.Option(
        "https://openrouter.ai/api/v1", "--upstream", help="Base URL to forward to."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to bind (loopback by default)."
    ),
    port: int = typer.Option(0, "--port", help="Port; 0 picks a free one and prints the URL."),
    redact_field: list[str] = typer.Option(
        [], "--redact-field", help="JSON body path to redact, e.g. 'metadata.email' (repeatable)."
    ),
    redact_value: list[str] = typer.Option(
        [],
        "--redact-value",
        envvar="ORSIM_REDACT_VALUES",
        help="A value to scrub wherever it appears, any length (repeatable).",
    ),
) -> None:
    """Recording proxy: point a client's base URL at it; every exchange lands in a cassette."""
    from simulator.cassettes.recorder import run_record

    raise typer.Exit(
        run_record(
            upstream,
            out,
            host,
            port,
            tuple(redact_field),
            typer.echo,
            redact_values=tuple(redact_value),
        )
    )


@app.command("smoke")
def smoke_cmd(
    cassette_dir: str = typer.Argument("cassettes", help="Directory of cassettes to replay."),
) -> None:
    """Replay every cassette through the openai SDK against the fake OpenRouter; print a table."""
    from simulator.smoke import main as smoke_main

    raise typer.Exit(smoke_main(cassette_dir))


@app.command("owui-install")
def owui_install_cmd() -> None:
    """Install Open WebUI 0.12.4 into its cached venv (ORSIM_OWUI_VENV overrides the path)."""
    from simulator.owui_live.install import main as install_main

    raise typer.Exit(install_main([]))


@app.command("serve-host")
def serve_host_cmd(
    function: list[str] = typer.Option(
        [], "--function", help="Function file to load (repeatable)."
    ),
    function_id: list[str] = typer.Option(
        [], "--function-id", help="Id for the matching --function (default: from the file name)."
    ),
    valves: list[str] = typer.Option(
        [], "--valves", help="Valves JSON for the first function, or ID=JSON (repeatable)."
    ),
    user: list[str] = typer.Option(
        [], "--user", help="Bearer token for a user: TOKEN=id:role[:email[:name]] (repeatable)."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to bind (loopback by default)."
    ),
    port: int = typer.Option(0, "--port", help="Port; 0 picks a free one and prints the URL."),
    workers: int = typer.Option(1, "--workers", help="Worker processes, each with its own Pipe."),
    redis: str = typer.Option(
        "", "--redis", help="Redis URL the workers share (Open WebUI's REDIS_URL)."
    ),
    database_url: str = typer.Option(
        "", "--database-url", help="Database URL the workers share (Open WebUI's DATABASE_URL)."
    ),
    bypass_model_access_control: bool = typer.Option(
        False,
        "--bypass-model-access-control",
        envvar="BYPASS_MODEL_ACCESS_CONTROL",
        help="Let every user see and use every model (Open WebUI's flag; off by default).",
    ),
) -> None:
    """Run the fake Open WebUI host (/api/models, /api/chat/completions, tasks, valves)."""
    from simulator.host.cli_serve import run_serve_host

    run_serve_host(
        functions=function,
        function_ids=function_id,
        valves=valves,
        users=user,
        host=host,
        port=port,
        workers=workers,
        redis_url=redis,
        database_url=database_url,
        bypass_model_access_control=bypass_model_access_control,
    )


@app.command("serve-openrouter")
def serve_openrouter_cmd(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to bind (loopback by default)."
    ),
    port: int = typer.Option(0, "--port", help="Port; 0 picks a free one and prints the URL."),
    cassette: list[str] = typer.Option(
        [], "--cassette", help="Cassette file to replay (repeatable)."
    ),
    speed: float = typer.Option(
        0.0, "--speed", help="Cassette replay speed factor (1 = as recorded, 0 = instant)."
    ),
    chunking: str = typer.Option(
        "recorded", "--chunking", help="Cassette chunking plan (see docs/cassettes.md)."
    ),
    fault: list[str] = typer.Option(
        [], "--fault", help="App-wide fault, e.g. 'rate_limit;count=2' (repeatable)."
    ),
    physics: str = typer.Option(
        "", "--physics", help="Streaming physics, e.g. 'ttft=0.4;tps=60;jitter=0.2;seed=1'."
    ),
    api_key: list[str] = typer.Option(
        [], "--api-key", help="Accept only these keys (default: any key starting sk-or-)."
    ),
    no_model_check: bool = typer.Option(
        False, "--no-model-check", help="Accept model slugs missing from the catalog."
    ),
) -> None:
    """Run the fake OpenRouter (/api/v1/responses, /api/v1/models) on loopback."""
    from simulator.openrouter.cli_serve import run_serve

    run_serve(
        host=host,
        port=port,
        cassettes=cassette,
        speed=speed,
        chunking=chunking,
        faults=fault,
        physics=physics,
        api_keys=api_key,
        check_models=not no_model_check,
    )


@app.command("load")
def load_cmd(
    profile: str = typer.Option(
        "smoke", "--profile", help="smoke | hold | ramp | step | soak (docs/load-testing.md)."
    ),
    users: int = typer.Option(None, "--users", help="Concurrent users (constant profiles)."),
    duration: float = typer.Option(None, "--duration", help="Run time in seconds."),
    workers: int = typer.Option(None, "--workers", help="Fake host worker processes."),
    out: str = typer.Option(None, "--out", help="Result folder (default load-results/NAME-TIME)."),
    function: str = typer.Option(
        None, "--function", help="Function file to host (default: the exported pipe)."
    ),
    target: str = typer.Option(
        None, "--target", help="Load this Open WebUI URL instead of starting the fake stack."
    ),
    model: str = typer.Option(None, "--model", help="Model id to chat with."),
    locust_workers: int = typer.Option(
        0, "--locust-workers", help="Run locust distributed: a master and N local workers."
    ),
) -> None:
    """Load test: fake OpenRouter + K host workers + headless locust; CSVs, HTML, PNG plots."""
    from pathlib import Path

    from simulator.load.run import LoadOptions, cli_main

    opts = LoadOptions(
        profile=profile,
        users=users,
        duration=duration,
        workers=workers,
        out=Path(out) if out else None,
        function=Path(function) if function else None,
        target=target,
        model=model,
        locust_workers=locust_workers,
    )
    raise typer.Exit(cli_main(opts))


@app.command("export-function")
def export_function_cmd(
    out: str = typer.Option(
        "openrouter_responses_pipe.py", "--out", "-o", help="Where to write the function file."
    ),
) -> None:
    """Write the pipe as ONE self-contained Open WebUI Function file (paste it or POST it)."""
    from pathlib import Path

    from simulator.export import ExportError, export_function

    try:
        path = export_function(Path(out))
    except ExportError as exc:
        typer.echo(f"export failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"wrote {path} ({path.stat().st_size} bytes)")


_DIR_OPT = typer.Option(None, "--dir", help="The SESSION_LOG_DIR the archives are in.")
_DB_OPT = typer.Option(
    None, "--db", help="Database URL (default: $DATABASE_URL, else $DATA_DIR/openrouter_pipe.db)."
)
_SECRET_OPT = typer.Option(
    None, "--secret", help="The WEBUI_SECRET_KEY the pipe ran with (default: the environment's)."
)


def _archive_document(archive: str, directory: str | None, db: str | None, secret: str | None):
    """The decrypted archive, or exit 1 with the reason (wrong key, no such archive...)."""
    import asyncio

    from pipe.storage.archives import ArchiveError
    from simulator.operations.archives import backend, read_document

    try:
        return asyncio.run(read_document(backend(directory, db), archive, secret))
    except ArchiveError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@logs_app.command("list")
def logs_list_cmd(
    directory: str = _DIR_OPT,
    db: str = _DB_OPT,
    chat: str = typer.Option("", "--chat", help="Only this chat id."),
    user: str = typer.Option("", "--user", help="Only this user id."),
    since: str = typer.Option("", "--since", help="e.g. 24h, 7d (default: all)."),
    limit: int = typer.Option(100, "--limit"),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
) -> None:
    """Archives, newest first (their ids are readable without the key)."""
    import asyncio
    import json

    from simulator.operations.archives import backend, list_archives, parse_since

    store = backend(directory, db)
    rows = asyncio.run(
        list_archives(store, chat_id=chat, user_id=user, since=parse_since(since), limit=limit)
    )
    for row in rows:
        if as_json:
            typer.echo(json.dumps(row))
        else:
            typer.echo(
                f"{row['id']}  {row['created_at']}  {row['outcome']:<9} user={row['user_id']} "
                f"chat={row['chat_id']} msg={row['message_id']} {row['model']} {row['size']} B"
            )
    if not rows and not as_json:
        typer.echo(f"no archives in {store.label}")


@logs_app.command("show")
def logs_show_cmd(
    archive: str = typer.Argument(..., help="Archive id (from `orsim logs list`)."),
    directory: str = _DIR_OPT,
    db: str = _DB_OPT,
    secret: str = _SECRET_OPT,
    fmt: str = typer.Option("text", "--format", help="text or jsonl."),
) -> None:
    """Open one archive (decrypting it) and print it as text or JSON lines."""
    from simulator.operations.archives import as_json_lines, as_text

    doc = _archive_document(archive, directory, db, secret)
    for line in as_json_lines(doc) if fmt == "jsonl" else as_text(doc):
        typer.echo(line)


@logs_app.command("to-scenario")
def logs_to_scenario_cmd(
    archive: str = typer.Argument(..., help="Archive id (from `orsim logs list`)."),
    out: str = typer.Option("scenarios/incidents", "--out", help="Folder to write into."),
    directory: str = _DIR_OPT,
    db: str = _DB_OPT,
    secret: str = _SECRET_OPT,
) -> None:
    """Write a cassette and a scenario that replay the archived conversation offline."""
    from simulator.operations.to_scenario import write_scenario

    doc = _archive_document(archive, directory, db, secret)
    cassette, scenario = write_scenario(doc, out)
    typer.echo(f"cassette: {cassette}\nscenario: {scenario}\nrun it:   orsim run {scenario}")


@app.command("usage")
def usage_cmd(
    db: str = _DB_OPT,
    since: str = typer.Option("30d", "--since", help="Period start, e.g. 24h, 7d, 30d."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
) -> None:
    """Requests, tokens and cost per user and model (USAGE_RECORDS_ENABLED)."""
    import asyncio
    import json
    import time

    from pipe.storage.usage import usage_summary
    from simulator.operations.archives import database, parse_since

    rows = asyncio.run(usage_summary(database(db), parse_since(since), int(time.time()) + 1))
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    typer.echo(
        f"{'user':<24} {'model':<32} {'requests':>8} {'failed':>6} {'in':>10} {'out':>10} "
        f"{'cost $':>10} {'mean ms':>8}"
    )
    for row in rows:
        typer.echo(
            f"{row['user_id'] or '-':<24} {row['model']:<32} {row['requests']:>8} "
            f"{row['failed'] or 0:>6} {row['input_tokens'] or 0:>10} {row['output_tokens'] or 0:>10} "
            f"{row['cost'] or 0:>10.6f} {row['mean_latency_ms'] or 0:>8.0f}"
        )
    if not rows:
        typer.echo(f"no usage records since {since}")


_STORE_DB_OPT = typer.Option(
    None, "--db", help="Database URL (default: $DATABASE_URL, else $DATA_DIR/openrouter_pipe.db)."
)
_KEY_OPT = typer.Option("", "--key", help="ARTIFACT_ENCRYPTION_KEY (empty: WEBUI_SECRET_KEY).")
_PREVIOUS_OPT = typer.Option("", "--previous-keys", help="ARTIFACT_PREVIOUS_KEYS.")


@store_app.command("stats")
def store_stats_cmd(
    db: str = _STORE_DB_OPT, key: str = _KEY_OPT, previous_keys: str = _PREVIOUS_OPT
) -> None:
    """Rows per item type and per key id (ids only; no key material)."""
    import asyncio
    import json

    from simulator.operations.artifacts import stats

    typer.echo(json.dumps(asyncio.run(stats(db, key, previous_keys)), indent=2))


@store_app.command("reencrypt")
def store_reencrypt_cmd(
    db: str = _STORE_DB_OPT, key: str = _KEY_OPT, previous_keys: str = _PREVIOUS_OPT
) -> None:
    """Re-seal every row under the current key (after rotating ARTIFACT_ENCRYPTION_KEY)."""
    import asyncio

    from simulator.operations.artifacts import reencrypt

    moved, left = asyncio.run(reencrypt(db, key, previous_keys))
    typer.echo(f"{moved} rows moved to the current key; {left} rows no listed key opens (kept)")


@store_app.command("cleanup")
def store_cleanup_cmd(
    db: str = _STORE_DB_OPT,
    days: int = typer.Option(90, "--days", help="Delete rows not replayed for this many days."),
) -> None:
    """Retention now (the pipe also runs it by itself, ARTIFACT_RETENTION_DAYS)."""
    import asyncio

    from simulator.operations.artifacts import cleanup

    typer.echo(f"{asyncio.run(cleanup(db, days))} rows deleted")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
