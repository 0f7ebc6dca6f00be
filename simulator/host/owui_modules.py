"""The slice of Open WebUI's Python modules a function may import, for the fake host.

Real Open WebUI 0.12.4 exposes `open_webui.models.files.Files` (async `get_file_by_id`),
`open_webui.storage.provider.Storage` (`get_file(path)` -> a local path) and
`open_webui.models.models` (`Models`, `ModelForm`). The fake host installs in-memory stand-ins
with the same names and call shapes into `sys.modules`, only when no real `open_webui` is
importable, so the pipe's adapter runs unchanged against it. When the `DATABASE_URL`
environment variable is set (`orsim serve-host --database-url`), `open_webui.internal.db`
offers `async_engine` on it, as Open WebUI does, so the pipe keeps its tables in the database
the workers share; without it the module has no engine and the pipe uses its own SQLite file.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FileModel(BaseModel):
    id: str
    user_id: str
    filename: str
    path: str | None = None
    data: dict | None = None
    meta: dict | None = None
    created_at: int | None = None
    updated_at: int | None = None


class ModelForm(BaseModel):
    model_config = ConfigDict(extra="ignore")
    commit_message: str | None = None
    id: str = Field(pattern=r"^\S+$")
    base_model_id: str | None = None
    name: str
    meta: dict[str, Any]
    params: dict[str, Any]
    is_active: bool = True


class ModelModel(ModelForm):
    user_id: str = ""
    updated_at: int = 0
    created_at: int = 0


class _Files:
    def __init__(self) -> None:
        self.records: dict[str, FileModel] = {}
        self.dir = Path(tempfile.mkdtemp(prefix="orsim-owui-files-"))

    def add(
        self, *, user_id: str, name: str, content_type: str, data: bytes, file_id: str = ""
    ) -> str:
        file_id = file_id or str(uuid.uuid4())
        path = self.dir / f"{file_id}_{name}"
        path.write_bytes(data)
        self.records[file_id] = FileModel(
            id=file_id,
            user_id=user_id,
            filename=name,
            path=str(path),
            meta={"name": name, "content_type": content_type, "size": len(data)},
            created_at=int(time.time()),
        )
        return file_id

    async def get_file_by_id(self, id: str, db: Any = None) -> FileModel | None:
        return self.records.get(id)


class _Storage:
    @staticmethod
    def get_file(file_path: str) -> str:
        return file_path


class _Models:
    def __init__(self) -> None:
        self.records: dict[str, ModelModel] = {}

    async def get_model_by_id(self, id: str, db: Any = None) -> ModelModel | None:
        return self.records.get(id)

    async def get_all_models(self, db: Any = None) -> list[ModelModel]:
        return list(self.records.values())

    async def insert_new_model(self, form_data: ModelForm, user_id: str, db: Any = None):
        now = int(time.time())
        record = ModelModel(
            **form_data.model_dump(), user_id=user_id, created_at=now, updated_at=now
        )
        self.records[form_data.id] = record
        return record

    async def update_model_by_id(self, id: str, model: ModelForm, db: Any = None, **_: Any):
        current = self.records.get(id)
        if current is None:
            return None
        values = model.model_dump(exclude={"commit_message"})
        if "is_active" not in model.model_fields_set:
            values["is_active"] = current.is_active
        self.records[id] = ModelModel(
            **values,
            user_id=current.user_id,
            created_at=current.created_at,
            updated_at=int(time.time()),
        )
        return self.records[id]


Files = _Files()
Storage = _Storage()
Models = _Models()


def _database_module() -> types.ModuleType:
    """`open_webui.internal.db` whose `async_engine` is made on first use from DATABASE_URL."""
    module = types.ModuleType("open_webui.internal.db")

    def getattr_(name: str) -> Any:
        url = os.environ.get("DATABASE_URL", "").strip()
        if name != "async_engine" or not url:
            raise AttributeError(name)
        from sqlalchemy.ext.asyncio import create_async_engine

        from pipe.storage.database import async_url

        engine = create_async_engine(async_url(url), pool_pre_ping=True)
        module.async_engine = engine  # type: ignore[attr-defined]
        return engine

    module.__getattr__ = getattr_  # type: ignore[method-assign]
    return module


def reset() -> None:
    Files.records.clear()
    Models.records.clear()


def install() -> bool:
    """Register the stand-ins; False (nothing done) when a real Open WebUI is importable."""
    if "open_webui" in sys.modules:
        return getattr(sys.modules["open_webui"], "__orsim_fake__", False)
    if importlib.util.find_spec("open_webui") is not None:
        return False
    root = types.ModuleType("open_webui")
    root.__orsim_fake__ = True  # type: ignore[attr-defined]
    root.__path__ = []  # a package, so submodule imports resolve through sys.modules
    modules = {
        "open_webui": root,
        "open_webui.models": types.ModuleType("open_webui.models"),
        "open_webui.models.files": types.ModuleType("open_webui.models.files"),
        "open_webui.models.models": types.ModuleType("open_webui.models.models"),
        "open_webui.storage": types.ModuleType("open_webui.storage"),
        "open_webui.storage.provider": types.ModuleType("open_webui.storage.provider"),
        "open_webui.internal": types.ModuleType("open_webui.internal"),
        "open_webui.internal.db": _database_module(),
    }
    for name, module in modules.items():
        if name != "open_webui.models.files" and name.count(".") < 2:
            module.__path__ = []  # type: ignore[attr-defined]
    modules["open_webui.models.files"].Files = Files  # type: ignore[attr-defined]
    modules["open_webui.models.files"].FileModel = FileModel  # type: ignore[attr-defined]
    modules["open_webui.storage.provider"].Storage = Storage  # type: ignore[attr-defined]
    modules["open_webui.models.models"].Models = Models  # type: ignore[attr-defined]
    modules["open_webui.models.models"].ModelForm = ModelForm  # type: ignore[attr-defined]
    sys.modules.update(modules)
    return True
