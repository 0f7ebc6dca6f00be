"""Model listing (`functions.py get_function_models`): single pipes and manifolds."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from simulator.host.loader import LoadedFunction

log = logging.getLogger(__name__)


async def _sub_pipes(fn: LoadedFunction) -> list[dict[str, Any]]:
    pipes = fn.instance.pipes
    try:
        if callable(pipes):
            if inspect.iscoroutinefunction(pipes):
                return list(await pipes() or [])
            return list(pipes() or [])
        return list(pipes or [])
    except Exception:  # Open WebUI logs it and lists no models for this manifold
        log.exception("pipes() of %s raised; the manifold lists no models", fn.id)
        return []


async def function_models(fn: LoadedFunction) -> list[dict[str, Any]]:
    """The model dicts one pipe function contributes, valves re-applied first."""
    if fn.type != "pipe":
        return []
    fn.apply_valves()
    flag = {"type": "pipe"}
    if not fn.is_manifold:
        return [_model(fn.id, fn.name, fn, flag)]
    models = []
    for item in await _sub_pipes(fn):
        name = item["name"]
        if hasattr(fn.instance, "name"):
            name = f"{fn.instance.name}{name}"  # prepended verbatim, no separator
        models.append(_model(f"{fn.id}.{item['id']}", name, fn, flag))
    return models


def _model(model_id: str, name: str, fn: LoadedFunction, flag: dict) -> dict[str, Any]:
    return {
        "id": model_id,
        "name": name,
        "object": "model",
        "created": fn.created_at,
        "owned_by": "openai",
        "pipe": dict(flag),
        "has_user_valves": fn.has_user_valves,
        # Added by get_all_models (action and filter functions of the model) and /api/models
        # (tags); a host without action/filter functions lists them empty.
        "actions": [],
        "filters": [],
        "tags": [],
    }


async def list_models(functions: list[LoadedFunction]) -> list[dict[str, Any]]:
    """All models; a function whose listing raises (e.g. an item without `id`) is skipped."""
    models: list[dict[str, Any]] = []
    for fn in functions:
        try:
            models.extend(await function_models(fn))
        except Exception:
            log.exception("listing models of %s failed; skipped", fn.id)
    return models
