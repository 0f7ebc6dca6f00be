"""`ArtifactStore`: the SQL side of the artifact store (sealed rows in, sealed rows out).

The interface a cache or write-behind queue can sit in front of: `write` (idempotent by
artifact id: writing the same rows twice changes nothing), `load` (one query for all ids,
scoped by user), `commit_turn` (one transaction for everything a finished turn changes),
`delete`, `cleanup` (retention by last use) and the key-rotation helpers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import String, any_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from .codec import ArtifactRow
from .database import Database
from .schema import artifacts_table

_COLUMNS = artifacts_table.c


# Selected in the row's field order, so a result row maps onto `ArtifactRow` by position
# (a replay reads 150 rows before the first token: no per-field lookups or conversions).
_ROW_COLUMNS = tuple(_COLUMNS[f.name] for f in fields(ArtifactRow))
_PAYLOAD_INDEX = [f.name for f in fields(ArtifactRow)].index("payload")


def _row(record: Any) -> ArtifactRow:
    values = tuple(record)
    payload = values[_PAYLOAD_INDEX]
    if type(payload) is not bytes:  # a driver's memoryview or bytearray
        values = (*values[:_PAYLOAD_INDEX], bytes(payload), *values[_PAYLOAD_INDEX + 1 :])
    return ArtifactRow(*values)


class ArtifactStore:
    def __init__(self, database: Database) -> None:
        self.db = database

    # ------------------------------------------------------------------ writes

    async def write(self, rows: Sequence[ArtifactRow]) -> None:
        """Insert rows in one transaction; rows whose id already exists are left as they are."""
        await self.commit_turn(rows)

    async def commit_turn(
        self,
        rows: Sequence[ArtifactRow] = (),
        *,
        touch: Iterable[str] = (),
        remove: Iterable[str] = (),
        user_id: str = "",
        now: int = 0,
    ) -> None:
        """Everything a finished turn changes, all or nothing: new rows, the last-use time of
        the rows it replayed, and the rows to drop after replay (`next_reply` reasoning)."""
        await self.db.ready()
        touch, remove = list(touch), list(remove)
        async with self.db.engine.begin() as conn:
            if rows:
                await self._insert_new(conn, rows)
            if touch and user_id:
                await conn.execute(
                    update(artifacts_table)
                    .where(_COLUMNS.id.in_(touch), _COLUMNS.user_id == user_id)
                    .values(last_used=now)
                )
            if remove and user_id:
                await conn.execute(
                    delete(artifacts_table).where(
                        _COLUMNS.id.in_(remove), _COLUMNS.user_id == user_id
                    )
                )

    async def _insert_new(self, conn: AsyncConnection, rows: Sequence[ArtifactRow]) -> None:
        values = [r.as_values() for r in {r.id: r for r in rows}.values()]
        if self.db.dialect == "postgresql":
            stmt: Any = postgresql.insert(artifacts_table).on_conflict_do_nothing(
                index_elements=["id"]
            )
        elif self.db.dialect == "sqlite":
            stmt = sqlite.insert(artifacts_table).on_conflict_do_nothing(index_elements=["id"])
        else:  # other dialects: skip the ids that exist (same transaction)
            existing = set(
                (
                    await conn.execute(
                        select(_COLUMNS.id).where(_COLUMNS.id.in_([v["id"] for v in values]))
                    )
                ).scalars()
            )
            values = [v for v in values if v["id"] not in existing]
            if not values:
                return
            stmt = insert(artifacts_table)
        await conn.execute(stmt, values)

    # ------------------------------------------------------------------ reads

    async def load(self, user_id: str, ids: Sequence[str]) -> dict[str, ArtifactRow]:
        """The rows of `ids` that belong to `user_id`, in one query (others: absent)."""
        if not ids or not user_id:
            return {}
        await self.db.ready()
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(*_ROW_COLUMNS).where(
                    self._id_in(list(dict.fromkeys(ids))), _COLUMNS.user_id == user_id
                )
            )
            return {row.id: row for row in map(_row, result)}

    def _id_in(self, ids: list[str]) -> Any:
        """`id IN (...)`; on PostgreSQL `id = ANY(array)`: one parameter instead of one per id,
        so the statement text stays the same (cached by the driver) and binds in one step."""
        if self.db.dialect == "postgresql":
            return _COLUMNS.id == any_(bindparam("ids", ids, type_=postgresql.ARRAY(String)))
        return _COLUMNS.id.in_(ids)

    async def counts(self, **where: str) -> dict[str, int]:
        """Rows per item type (optionally for one user_id / chat_id)."""
        await self.db.ready()
        stmt = select(_COLUMNS.item_type, func.count()).group_by(_COLUMNS.item_type)
        for name, value in where.items():
            stmt = stmt.where(_COLUMNS[name] == value)
        async with self.db.engine.connect() as conn:
            return {kind: int(n) for kind, n in await conn.execute(stmt)}

    async def rows(self, **where: str) -> list[ArtifactRow]:
        """Every row matching column equalities (operators, tests, re-encryption batches)."""
        await self.db.ready()
        stmt = select(*_ROW_COLUMNS).order_by(_COLUMNS.created_at, _COLUMNS.id)
        for name, value in where.items():
            stmt = stmt.where(_COLUMNS[name] == value)
        async with self.db.engine.connect() as conn:
            return [_row(r) for r in await conn.execute(stmt)]

    # ------------------------------------------------------------------ maintenance

    async def delete(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        await self.db.ready()
        async with self.db.engine.begin() as conn:
            result = await conn.execute(delete(artifacts_table).where(_COLUMNS.id.in_(ids)))
            return int(result.rowcount or 0)

    async def cleanup(self, last_used_before: int) -> int:
        """Delete rows not used since `last_used_before` (epoch seconds)."""
        await self.db.ready()
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                delete(artifacts_table).where(_COLUMNS.last_used < last_used_before)
            )
            return int(result.rowcount or 0)

    async def sealed_with_other_keys(self, current_key_id: str, limit: int) -> list[ArtifactRow]:
        await self.db.ready()
        stmt = (
            select(*_ROW_COLUMNS)
            .where(_COLUMNS.key_id != current_key_id)
            .order_by(_COLUMNS.id)
            .limit(limit)
        )
        async with self.db.engine.connect() as conn:
            return [_row(r) for r in await conn.execute(stmt)]

    async def replace_sealed(self, rows: Sequence[ArtifactRow]) -> None:
        """Store re-sealed payloads (key rotation) in one transaction."""
        await self.db.ready()
        async with self.db.engine.begin() as conn:
            for row in rows:
                await conn.execute(
                    update(artifacts_table)
                    .where(_COLUMNS.id == row.id)
                    .values(key_id=row.key_id, codec=row.codec, payload=row.payload)
                )
