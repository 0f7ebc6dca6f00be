"""What the workers of one Open WebUI share: one object per Redis URL (or none).

`Fleet` bundles the shared pieces behind one small interface, each with a per-process
fallback: cool-down windows (`holds`), the fleet-wide catalog copy (`cache`, None without
Redis: each worker fetches alone) and the concurrency budget (`budget()`, None without Redis).
Without a Redis URL nothing here talks to the network and the pipe behaves as a single process.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .fleetcache import FleetCache
from .holds import Holds
from .leases import LeaseBudget
from .owui import owui_redis_url
from .redislink import RedisLink


def resolve_redis_url(valve: str, enabled: bool) -> str:
    """The valve, else Open WebUI's REDIS_URL; "" (no Redis) when turned off."""
    if not enabled:
        return ""
    return (valve or "").strip() or owui_redis_url()


def settings_fingerprint(valves: Any) -> str:
    """Changes whenever an operator saves different valves (fleet-wide cache invalidation)."""
    dumped = valves.model_dump_json() if hasattr(valves, "model_dump_json") else repr(valves)
    return hashlib.sha256(dumped.encode()).hexdigest()[:24]


class Fleet:
    def __init__(self, link: RedisLink | None = None) -> None:
        self.link = link
        self.holds = Holds(link)
        self.cache = FleetCache(link) if link is not None else None
        self._budgets: dict[str, LeaseBudget] = {}

    @property
    def shared(self) -> bool:
        return self.link is not None

    def budget(self, name: str = "requests", ttl: float = 30.0) -> LeaseBudget | None:
        if self.link is None:
            return None
        budget = self._budgets.get(name)
        if budget is None or budget.ttl != ttl:
            budget = LeaseBudget(self.link, name, ttl)
            self._budgets[name] = budget
        return budget

    async def aclose(self) -> None:
        for budget in self._budgets.values():
            await budget.aclose()
        self._budgets.clear()
        if self.link is not None:
            await self.link.aclose()
