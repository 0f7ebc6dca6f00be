"""Effective settings for one request: system valves, then what the user explicitly set."""

from __future__ import annotations

import os
from typing import Any, TypeVar

from pydantic import BaseModel

ValvesT = TypeVar("ValvesT", bound=BaseModel)

INHERIT = "inherit"


def user_overrides(user_valves: Any) -> dict[str, Any]:
    """Fields the user explicitly set to a real value (None and "inherit" mean: not set)."""
    if not isinstance(user_valves, BaseModel):
        return {}
    out = {}
    for name in user_valves.model_fields_set:
        value = getattr(user_valves, name, None)
        if value is None or (isinstance(value, str) and value.strip().lower() == INHERIT):
            continue
        out[name] = value
    return out


def merge_valves(valves: ValvesT, user_valves: Any) -> ValvesT:
    """A copy of the system valves with the user's explicit choices applied."""
    overrides = {
        k: v for k, v in user_overrides(user_valves).items() if k in type(valves).model_fields
    }
    return valves.model_copy(update=overrides) if overrides else valves


def resolve_api_key(configured: str) -> str:
    """The valve wins; otherwise the OPENROUTER_API_KEY environment variable."""
    return (configured or "").strip() or os.environ.get("OPENROUTER_API_KEY", "").strip()


def default_base_url() -> str:
    return os.environ.get("OPENROUTER_API_BASE_URL", "").strip() or "https://openrouter.ai/api/v1"
