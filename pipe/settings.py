"""Effective settings for one request: system valves, then what the user explicitly set."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

from .secret_valve import unseal

ValvesT = TypeVar("ValvesT", bound=BaseModel)

INHERIT = "inherit"


def user_overrides(user_valves: Any) -> dict[str, Any]:
    """Fields the user explicitly set to a real value (None and "inherit" mean: not set)."""
    if isinstance(user_valves, BaseModel):
        explicit = {name: getattr(user_valves, name, None) for name in user_valves.model_fields_set}
    elif isinstance(user_valves, dict):  # hosts that pass the stored settings as a plain dict
        explicit = dict(user_valves)
    else:
        return {}
    out = {}
    for name, value in explicit.items():
        if value is None or (isinstance(value, str) and value.strip().lower() == INHERIT):
            continue
        out[name] = value
    return out


def merge_valves(valves: ValvesT, user_valves: Any, allowed: Iterable[str]) -> ValvesT:
    """A copy of the system valves with the user's explicit choices applied. Only `allowed`
    names (the UserValves fields) can be overridden, so a user can never reach BASE_URL or
    API_KEY; the result is validated, so a bad value is ignored rather than trusted."""
    names = set(allowed) & set(type(valves).model_fields)
    overrides = {k: v for k, v in user_overrides(user_valves).items() if k in names}
    if not overrides:
        return valves
    try:
        return type(valves).model_validate({**valves.model_dump(), **overrides})
    except ValueError:
        return valves


def resolve_api_key(configured: str) -> str:
    """The valve (opened if sealed; raises `SealError` when it cannot be) wins; otherwise the
    OPENROUTER_API_KEY environment variable."""
    return unseal((configured or "").strip()) or os.environ.get("OPENROUTER_API_KEY", "").strip()


def default_base_url() -> str:
    return os.environ.get("OPENROUTER_API_BASE_URL", "").strip() or "https://openrouter.ai/api/v1"
