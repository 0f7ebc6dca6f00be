"""The one adapter to Open WebUI's internals: its database engine, data directory and secret.

Every other pipe module asks this one, so an Open WebUI upgrade that moves something breaks in
one place. Besides the database engine, data directory and secret: uploaded files (the `file`
table and the storage provider) and the `model` records (capabilities, description, icon). Outside Open WebUI (the fake host, tests, scripts) `open_webui` cannot be imported;
each function then falls back to plain environment variables and the working directory, and
the pipe keeps working (its artifacts go to a SQLite file in the data directory).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
from pathlib import Path
from typing import Any

from .dataurl import MediaError
from .logs import get_logger
from .media import StoredFile

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


# ---------------------------------------------------------------- pipe identity

_FUNCTION_MODULE = re.compile(r"^function_(.+)_[0-9a-f]{32}$")


def function_id_of(pipe: object) -> str | None:
    """The Open WebUI function id this pipe was loaded as (its module is
    `function_<id>_<uuid hex>`), or None outside Open WebUI."""
    match = _FUNCTION_MODULE.match(type(pipe).__module__ or "")
    return match.group(1) if match else None


# ---------------------------------------------------------------- files


class OwuiFileStore:
    """Files uploaded to Open WebUI: the `file` table for the record and access, the storage
    provider (local disk, S3, GCS, Azure) for the bytes."""

    def __init__(self, files: Any, storage: Any, access: Any, users: Any) -> None:
        self._files = files
        self._storage = storage
        self._access = access
        self._users = users

    async def read(self, file_id: str, user: dict[str, Any], max_bytes: int) -> StoredFile | None:
        record = await self._files.get_file_by_id(file_id)
        if record is None or not await self._may_read(record, user):
            return None
        meta = record.meta or {}
        name = str(meta.get("name") or record.filename or file_id)
        declared = meta.get("size")
        if isinstance(declared, int) and declared > max_bytes:
            raise MediaError(
                f"the file {name!r} is too large ({declared} bytes; limit {max_bytes})"
            )
        if not record.path:
            return None
        try:
            data = await asyncio.to_thread(self._read, record.path, max_bytes)
        except MediaError:
            raise
        except Exception as exc:  # storage backends raise their own error types
            get_logger().warning("reading file %s failed: %s", file_id, type(exc).__name__)
            return None
        content_type = str(meta.get("content_type") or "application/octet-stream")
        return StoredFile(id=file_id, name=name, content_type=content_type, data=data)

    async def _may_read(self, record: Any, user: dict[str, Any]) -> bool:
        if not user.get("id"):
            return False
        if record.user_id == user.get("id") or user.get("role") == "admin":
            return True
        if self._access is None or self._users is None:
            return False
        model = await self._users.get_user_by_id(user["id"])
        return bool(model and await self._access(record.id, "read", model))

    def _read(self, stored_path: str, max_bytes: int) -> bytes:
        # The provider may first download the object (S3, GCS, Azure) to a local cache path.
        return _read_capped(self._storage.get_file(stored_path), max_bytes)


def _read_capped(path: str, max_bytes: int) -> bytes:
    size = os.path.getsize(path)
    if size > max_bytes:
        raise MediaError(f"the file is too large ({size} bytes; limit {max_bytes})")
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise MediaError(f"the file is too large (over {max_bytes} bytes)")
    return data


def file_store() -> OwuiFileStore | None:
    files, provider = _owui_module("models.files"), _owui_module("storage.provider")
    if files is None or provider is None:
        return None
    users = _owui_module("models.users")
    access = _owui_module("utils.access_control.files")
    return OwuiFileStore(
        files.Files,
        provider.Storage,
        getattr(access, "has_access_to_file", None),
        getattr(users, "Users", None),
    )


# ---------------------------------------------------------------- model records


class OwuiModelRecords:
    """Open WebUI's `model` table: the per-model records whose `meta` (capabilities,
    description, profile image) Open WebUI shows for a pipe's models."""

    def __init__(self, models: Any, form: Any) -> None:
        self._models = models
        self._form = form

    async def get(self, model_id: str) -> dict[str, Any] | None:
        record = await self._models.get_model_by_id(model_id)
        return record.model_dump() if record is not None else None

    async def all_with_prefix(self, prefix: str) -> list[dict[str, Any]]:
        records = await self._models.get_all_models()
        return [r.model_dump() for r in records if str(r.id).startswith(prefix)]

    async def put(self, record: dict[str, Any], *, new: bool, owner: str) -> None:
        fields = {k: record[k] for k in ("id", "base_model_id", "name", "meta", "params")}
        form = self._form.model_validate({**fields, "commit_message": "OpenRouter catalog sync"})
        if new:
            await self._models.insert_new_model(form, owner)
        else:
            await self._models.update_model_by_id(record["id"], form)


def model_records() -> OwuiModelRecords | None:
    models = _owui_module("models.models")
    if models is None:
        return None
    return OwuiModelRecords(models.Models, models.ModelForm)
