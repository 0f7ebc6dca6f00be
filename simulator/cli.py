"""`orsim`: the one command-line entry point of the platform.

Every command imports its implementation lazily so `orsim --help` stays fast and a
command's heavy dependencies load only when it runs.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="orsim",
    help="Fake OpenRouter, fake Open WebUI host, cassettes, scenarios and benchmarks "
    "for the OpenRouter Responses pipe.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
bench_app = typer.Typer(help="Benchmarks that print numbers.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


# Commands are registered below, one block per command.


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
