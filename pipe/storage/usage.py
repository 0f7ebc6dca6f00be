"""Usage records: one row per request (user, model, tokens, cost, latency, outcome), so an
operator can answer "who spent what" (`orsim usage`)."""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, insert, select

from .database import Database
from .schema import usage_table


@dataclass(frozen=True)
class UsageRecord:
    request_id: str
    user_id: str
    chat_id: str
    model: str
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cached_tokens: int
    cost: float | None
    latency_ms: int
    ttft_ms: int | None
    outcome: str
    created_at: int

    @classmethod
    def from_usage(
        cls,
        ids: dict[str, str],
        model: str,
        usage: dict[str, Any] | None,
        *,
        latency: float,
        ttft: float | None,
        outcome: str,
    ) -> UsageRecord:
        usage = usage or {}

        def count(*path: str) -> int:
            value: Any = usage
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            return int(value) if isinstance(value, int | float) else 0

        cost = usage.get("cost")
        return cls(
            request_id=ids.get("request_id", ""),
            user_id=ids.get("user_id", ""),
            chat_id=ids.get("chat_id", ""),
            model=model[:255],
            input_tokens=count("prompt_tokens"),
            output_tokens=count("completion_tokens"),
            reasoning_tokens=count("completion_tokens_details", "reasoning_tokens"),
            cached_tokens=count("prompt_tokens_details", "cached_tokens"),
            cost=float(cost) if isinstance(cost, int | float) else None,
            latency_ms=int(latency * 1000),
            ttft_ms=None if ttft is None else int(ttft * 1000),
            outcome=outcome,
            created_at=int(time.time()),
        )


async def write_usage(database: Database, record: UsageRecord) -> None:
    await database.ready()
    async with database.engine.begin() as conn:
        await conn.execute(insert(usage_table).values(id=secrets.token_hex(16), **asdict(record)))


async def usage_summary(database: Database, since: int, until: int) -> list[dict[str, Any]]:
    """Per user and model: requests, errors, tokens, cost, mean latency."""
    await database.ready()
    t = usage_table
    query = (
        select(
            t.c.user_id,
            t.c.model,
            func.count().label("requests"),
            func.sum(func.cast(t.c.outcome != "ok", t.c.input_tokens.type)).label("failed"),
            func.sum(t.c.input_tokens).label("input_tokens"),
            func.sum(t.c.output_tokens).label("output_tokens"),
            func.sum(t.c.cost).label("cost"),
            func.avg(t.c.latency_ms).label("mean_latency_ms"),
        )
        .where(t.c.created_at >= since, t.c.created_at < until)
        .group_by(t.c.user_id, t.c.model)
        .order_by(func.sum(t.c.cost).desc(), t.c.user_id)
    )
    async with database.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [dict(row._mapping) for row in rows]
