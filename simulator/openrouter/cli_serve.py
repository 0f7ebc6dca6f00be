"""`orsim serve-openrouter`: build the config (and the cassette player) from CLI options."""

from __future__ import annotations

import typer

from simulator.openrouter.faults import FaultSyntaxError, parse_faults
from simulator.openrouter.physics import Physics, parse_physics
from simulator.openrouter.server import serve
from simulator.openrouter.state import SimConfig


def run_serve(
    *,
    host: str,
    port: int,
    cassettes: list[str],
    speed: float,
    chunking: str,
    faults: list[str],
    physics: str,
    api_keys: list[str],
    check_models: bool,
) -> None:
    try:
        config = SimConfig(
            api_keys=api_keys or None,
            check_models=check_models,
            physics=Physics(**parse_physics(physics)) if physics else Physics(),
            faults=[f for text in faults for f in parse_faults(text)],
        )
    except (ValueError, FaultSyntaxError) as exc:
        typer.echo(f"serve-openrouter: {exc}", err=True)
        raise typer.Exit(2) from exc
    player = None
    if cassettes:
        try:
            from simulator.cassettes.player import CassettePlayer
        except ImportError as exc:  # the cassette package is optional for the server
            typer.echo(f"serve-openrouter: cassette replay unavailable: {exc}", err=True)
            raise typer.Exit(2) from exc
        try:
            player = CassettePlayer(cassettes, speed=speed or None, chunking=chunking)
        except (OSError, ValueError) as exc:
            typer.echo(f"serve-openrouter: cannot load cassettes: {exc}", err=True)
            raise typer.Exit(2) from exc
    serve(config, player=player, host=host, port=port, echo=typer.echo)
