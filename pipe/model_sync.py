"""Publishing the catalog into Open WebUI's model records (opt-in: PUBLISH_MODEL_METADATA).

Open WebUI reads a pipe model's capabilities (the image button, file upload, web-search toggle,
citations, usage), description and icon from its `model` table, not from `pipes()`. This sync
writes them per model, and remembers under `meta.openrouter_pipe.written` what it wrote, so a
value an administrator changed by hand (it no longer equals what the pipe wrote) is never
overwritten. Records of models that left the catalog are marked (`removed`), never deleted.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from .logs import get_logger
from .model_info import CatalogSnapshot, ModelInfo
from .owui import model_records
from .wire import json_object

MARK = "openrouter_pipe"
MANAGED = ("capabilities", "description", "profile_image_url")


class ModelRecords(Protocol):
    async def get(self, model_id: str) -> dict[str, Any] | None: ...

    async def all_with_prefix(self, prefix: str) -> list[dict[str, Any]]: ...

    async def put(self, record: dict[str, Any], *, new: bool, owner: str) -> None: ...


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept_admin_edits: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def capabilities(model: ModelInfo) -> dict[str, bool]:
    return {
        "vision": model.vision,
        "file_upload": True,  # False would block every upload, retrieval included
        "web_search": model.web_search,
        "image_generation": False,
        "code_interpreter": True,
        "citations": True,
        "status_updates": True,
        "usage": True,
    }


def icon(vendor: str) -> str:
    """A small solid PNG in a colour derived from the vendor (the catalog has no icons)."""
    digest = hashlib.sha256(vendor.encode()).digest()
    rgb = bytes(64 + b % 160 for b in digest[:3])
    size = 16
    raw = b"".join(b"\x00" + rgb * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode()


def desired_meta(model: ModelInfo) -> dict[str, Any]:
    vendor = model.slug.lstrip("~").split("/", 1)[0]
    return {
        "capabilities": capabilities(model),
        "description": model.description or None,
        "profile_image_url": icon(vendor),
    }


def _digest(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


async def sync_models(
    records: ModelRecords, function_id: str, models: list[ModelInfo], owner: str = ""
) -> SyncReport:
    report = SyncReport()
    prefix = f"{function_id}."
    listed = {prefix + m.sub_id for m in models}
    for model in models:
        record_id = prefix + model.sub_id
        try:
            await _sync_one(records, record_id, model, owner, report)
        except Exception as exc:  # one bad record must not stop the others
            get_logger().warning("model metadata sync of %s failed: %s", record_id, exc)
    for record in await records.all_with_prefix(prefix):
        meta = record.get("meta") or {}
        mark = meta.get(MARK)
        if record["id"] in listed or not isinstance(mark, dict) or mark.get("removed"):
            continue
        meta = {**meta, MARK: {**mark, "removed": True, "removed_at": int(time.time())}}
        await records.put({**record, "meta": meta}, new=False, owner=owner)
        report.removed.append(record["id"])
    return report


async def _sync_one(
    records: ModelRecords, record_id: str, model: ModelInfo, owner: str, report: SyncReport
) -> None:
    want = desired_meta(model)
    existing = await records.get(record_id)
    if existing is None:
        meta = {**want, MARK: {"written": {k: _digest(want[k]) for k in MANAGED}}}
        record = {"id": record_id, "base_model_id": None, "name": model.name, "meta": meta}
        await records.put({**record, "params": {}}, new=True, owner=owner)
        report.created.append(record_id)
        return
    meta = dict(existing.get("meta") or {})
    mark = json_object(meta.get(MARK))
    written = dict(json_object(mark.get("written")))
    changed = kept = False
    for key in MANAGED:
        current = meta.get(key)
        ours = key in written and written[key] == _digest(current)
        if current not in (None, "", {}) and not ours:
            kept = True  # set by someone else: an administrator's edit wins
            continue
        if current != want[key]:
            meta[key] = want[key]
            changed = True
        written[key] = _digest(want[key])
    new_mark = {k: v for k, v in mark.items() if k not in ("removed", "removed_at")}
    new_mark["written"] = written
    if new_mark != mark:
        changed = True
    if kept:
        report.kept_admin_edits.append(record_id)
    if not changed:
        return
    meta[MARK] = new_mark
    await records.put({**existing, "meta": meta}, new=False, owner=owner)
    report.updated.append(record_id)


class CatalogPublisher:
    """Publishes once per catalog snapshot and process (the listing runs on every page load)."""

    def __init__(self) -> None:
        self._published: CatalogSnapshot | None = None

    async def publish(
        self, function_id: str | None, snapshot: CatalogSnapshot, models: list[ModelInfo]
    ) -> None:
        records = model_records()
        if records is None or function_id is None or self._published is snapshot:
            return
        try:
            report = await sync_models(records, function_id, models)
        except Exception as exc:  # the listing must never fail because of the sync
            get_logger().warning("model metadata sync failed: %s", exc)
            return
        self._published = snapshot
        get_logger().info(
            "model metadata sync: %d created, %d updated, %d kept admin edits, %d marked removed",
            len(report.created),
            len(report.updated),
            len(report.kept_admin_edits),
            len(report.removed),
        )
