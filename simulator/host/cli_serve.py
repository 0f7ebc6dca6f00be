"""Argument handling for `orsim serve-host` (kept out of cli.py so the CLI stays a thin table)."""

from __future__ import annotations

import json

import typer

from simulator.host.loader import FunctionLoadError
from simulator.host.server import FunctionSpec, HostConfig, parse_user, serve


def run_serve_host(
    *,
    functions: list[str],
    function_ids: list[str],
    valves: list[str],
    users: list[str],
    host: str,
    port: int,
    workers: int,
    redis_url: str = "",
    database_url: str = "",
    bypass_model_access_control: bool = False,
) -> None:
    if not functions:
        raise typer.BadParameter("give at least one --function FILE", param_hint="--function")
    if len(function_ids) > len(functions):
        raise typer.BadParameter("more --function-id than --function", param_hint="--function-id")
    if workers < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--workers")
    specs = [
        FunctionSpec(path=path, function_id=function_ids[i] if i < len(function_ids) else None)
        for i, path in enumerate(functions)
    ]
    config = HostConfig(
        functions=specs,
        environment=_environment(redis_url, database_url),
        bypass_model_access_control=bypass_model_access_control,
    )
    for spec in users:
        try:
            token, fields = parse_user(spec)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--user") from exc
        config.users[token] = fields
    try:
        config = _with_valves(config, valves)
        serve(config, host=host, port=port, workers=workers)
    except (FunctionLoadError, OSError, ValueError) as exc:  # ValueError: invalid valves
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _environment(redis_url: str, database_url: str) -> dict[str, str]:
    """What Open WebUI's own settings would hold: its workers read REDIS_URL / DATABASE_URL."""
    env: dict[str, str] = {}
    if redis_url:
        if not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise typer.BadParameter(
                "must be a redis://, rediss:// or unix:// URL", param_hint="--redis"
            )
        env["REDIS_URL"] = redis_url
    if database_url:
        if "://" not in database_url:
            raise typer.BadParameter("must be a database URL", param_hint="--database-url")
        env["DATABASE_URL"] = database_url
    return env


def _with_valves(config: HostConfig, valves: list[str]) -> HostConfig:
    """`--valves JSON` applies to the first function; `--valves ID=JSON` to the named one."""
    from simulator.host.loader import default_function_id

    first = config.functions[0]
    first_id = first.function_id or default_function_id(first.path)
    for item in valves:
        fid, sep, raw = item.partition("=")
        if not sep or fid.strip().startswith("{"):
            fid, raw = first_id, item
        try:
            values = json.loads(raw)
        except ValueError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="--valves") from exc
        if not isinstance(values, dict):
            raise typer.BadParameter("must be a JSON object", param_hint="--valves")
        config.initial_valves[fid.strip().lower()] = values
    return config
