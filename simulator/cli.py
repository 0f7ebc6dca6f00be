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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
