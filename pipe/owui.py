"""The one adapter to Open WebUI's internals: its database engine, data directory and secret.

Every other pipe module asks this one, so an Open WebUI upgrade that moves something breaks in
one place. Outside Open WebUI (the fake host, tests, scripts) `open_webui` cannot be imported;
each function then falls back to plain environment variables and the working directory, and
the pipe keeps working (its artifacts go to a SQLite file in the data directory).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from .logs import get_logger

_MISSING = object()
_modules: dict[str, Any] = {}


def _owui_module(name: str) -> Any:
    """`open_webui.<name>`, or None outside Open WebUI. Importing it is attempted once: its
    env module exits the process on a bad configuration, which must not take the pipe along."""
    cached = _modules.get(name, _MISSING)
    if cached is not _MISSING:
        return cached
    module = None
    try:
        module = importlib.import_module(f"open_webui.{name}")
    except ImportError:
        pass
    except (Exception, SystemExit) as exc:  # an installed but unusable Open WebUI
        get_logger().warning("open_webui.%s cannot be imported: %s", name, type(exc).__name__)
    _modules[name] = module
    return module


def open_webui_available() -> bool:
    return _owui_module("env") is not None


def data_dir() -> Path:
    """Open WebUI's DATA_DIR; outside it the DATA_DIR variable, else the working directory."""
    env = _owui_module("env")
    value = getattr(env, "DATA_DIR", None) if env is not None else None
    if value is None:
        value = os.environ.get("DATA_DIR", "").strip() or os.getcwd()
    return Path(value)


def webui_secret_key() -> str:
    """WEBUI_SECRET_KEY as Open WebUI reads it (always set in a real install), or ""."""
    env = _owui_module("env")
    value = getattr(env, "WEBUI_SECRET_KEY", None) if env is not None else None
    if value is None:
        value = os.environ.get("WEBUI_SECRET_KEY") or os.environ.get("WEBUI_JWT_SECRET_KEY") or ""
    return str(value)


def owui_async_engine() -> Any:
    """Open WebUI's own async SQLAlchemy engine (its DATABASE_URL, SQLite or PostgreSQL), or
    None outside Open WebUI."""
    db = _owui_module("internal.db")
    return getattr(db, "async_engine", None) if db is not None else None


def owui_database_schema() -> str | None:
    """DATABASE_SCHEMA (PostgreSQL installs may keep Open WebUI's tables in their own schema)."""
    env = _owui_module("env")
    schema = getattr(env, "DATABASE_SCHEMA", None) if env is not None else None
    return str(schema) if schema else None


def owui_redis_url() -> str:
    """Open WebUI's REDIS_URL (its workers' shared Redis), or ""; outside Open WebUI the
    REDIS_URL environment variable, which is where Open WebUI reads it from."""
    env = _owui_module("env")
    value = getattr(env, "REDIS_URL", None) if env is not None else None
    if value is None:
        value = os.environ.get("REDIS_URL", "")
    return str(value or "").strip()
