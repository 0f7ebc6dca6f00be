"""A finished turn's writes as they travel through Redis (`QueuedTurn`), and back.

Rows stay sealed (encrypted) the whole way: Redis never holds a plaintext artifact. The
payload bytes travel base64-encoded inside compact JSON; `enqueued` (epoch seconds) lets the
flusher measure how long a turn waited for the database.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .codec import ArtifactRow


def pack_row(row: ArtifactRow) -> bytes:
    values = row.as_values()
    values["payload"] = base64.b64encode(row.payload).decode()
    return orjson.dumps(values)


def unpack_row(raw: bytes | str) -> ArtifactRow:
    values = orjson.loads(raw)
    values["payload"] = base64.b64decode(values["payload"])
    return ArtifactRow(**values)


@dataclass(frozen=True)
class QueuedTurn:
    rows: tuple[ArtifactRow, ...] = ()
    touch: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    user_id: str = ""
    now: int = 0
    enqueued: float = field(default_factory=time.time)

    @classmethod
    def of(
        cls,
        rows: Sequence[ArtifactRow],
        touch: Sequence[str],
        remove: Sequence[str],
        user_id: str,
        now: int,
    ) -> QueuedTurn:
        return cls(tuple(rows), tuple(touch), tuple(remove), user_id, now)

    def pack(self) -> bytes:
        return orjson.dumps(
            {
                "rows": [orjson.loads(pack_row(r)) for r in self.rows],
                "touch": list(self.touch),
                "remove": list(self.remove),
                "user": self.user_id,
                "now": self.now,
                "at": self.enqueued,
            }
        )

    @classmethod
    def unpack(cls, raw: bytes | str) -> QueuedTurn:
        data: dict[str, Any] = orjson.loads(raw)
        rows = tuple(unpack_row(orjson.dumps(r)) for r in data.get("rows", []))
        return cls(
            rows=rows,
            touch=tuple(str(t) for t in data.get("touch", [])),
            remove=tuple(str(r) for r in data.get("remove", [])),
            user_id=str(data.get("user", "")),
            now=int(data.get("now", 0)),
            enqueued=float(data.get("at", time.time())),
        )
