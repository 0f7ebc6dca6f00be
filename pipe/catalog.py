"""The model catalog cache: one per (base URL, API key), shared by every request.

Fresh for `ttl` seconds; after a failed refresh the last good snapshot is served (stale) and
no new fetch is tried until a backoff (5 s doubling, capped at the TTL) has passed, so a down
OpenRouter is not hammered by every model listing. Concurrent callers share one fetch.
With a `FleetCache` (Redis), the fetched payload is shared by every worker: one upstream fetch
per TTL for the fleet. A snapshot belongs to the settings fingerprint it was loaded under, so
saving different valves refreshes it (on every worker, at its next call).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import orjson

from .errors import ErrorKind, PipeError, error_from_http
from .fleetcache import FleetCache
from .logs import get_logger
from .model_info import CatalogSnapshot
from .telemetry import catalog_span

CATALOG_BACKOFF_BASE_SECONDS = 5.0


class ModelCatalog:
    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        headers: dict[str, str],
        clock: Callable[[], float] = time.monotonic,
        scope: str = "catalog",
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/models"
        self._headers = headers
        self._clock = clock
        self._scope = scope  # the fleet-wide cache entry's name
        self._fingerprint = ""
        self._lock = asyncio.Lock()
        self._snapshot: CatalogSnapshot | None = None
        self._fetched_at = 0.0
        self._failures = 0
        self._retry_at = 0.0
        self._last_error: PipeError | None = None

    @property
    def snapshot(self) -> CatalogSnapshot | None:
        return self._snapshot

    def _fresh(self, ttl: float, fingerprint: str) -> bool:
        return (
            self._snapshot is not None
            and fingerprint == self._fingerprint
            and self._clock() - self._fetched_at < ttl
        )

    async def get(
        self, ttl: float, fleet: FleetCache | None = None, fingerprint: str = ""
    ) -> CatalogSnapshot:
        """The current snapshot; raises PipeError only when nothing was ever loaded."""
        if self._fresh(ttl, fingerprint):
            return self._snapshot  # type: ignore[return-value]
        async with self._lock:
            if self._fresh(ttl, fingerprint):
                return self._snapshot  # type: ignore[return-value]
            if self._fingerprint != fingerprint:
                self._retry_at = 0.0  # new settings: try at once, whatever failed before
            if self._clock() >= self._retry_at:
                try:
                    snapshot, age = await self._load(ttl, fleet, fingerprint)
                except PipeError as exc:
                    self._failures += 1
                    delay = min(ttl, CATALOG_BACKOFF_BASE_SECONDS * 2 ** min(self._failures - 1, 5))
                    self._retry_at = self._clock() + delay
                    self._last_error = exc
                    get_logger().warning(
                        "model catalog refresh failed (%s); %s; next try in %.0fs",
                        exc.message,
                        "serving stale catalog" if self._snapshot else "no catalog yet",
                        delay,
                    )
                else:
                    self._snapshot, self._fetched_at = snapshot, self._clock() - age
                    self._fingerprint = fingerprint
                    self._failures, self._retry_at, self._last_error = 0, 0.0, None
            if self._snapshot is None:
                raise self._last_error or PipeError(
                    ErrorKind.CONNECTION, "model catalog unavailable"
                )
            return self._snapshot

    async def _load(
        self, ttl: float, fleet: FleetCache | None, fingerprint: str
    ) -> tuple[CatalogSnapshot, float]:
        """(snapshot, its age in seconds): the fleet's copy or a fresh fetch."""
        if fleet is None:
            body, age = await self._fetch_body(), 0.0
        else:
            body, left = await fleet.get(self._scope, fingerprint, ttl, self._fetch_body)
            age = max(0.0, ttl - left)
        return parse_catalog_body(body), age

    async def _fetch_body(self) -> bytes:
        """One GET of the catalog (a span of its own when telemetry is on)."""
        with catalog_span(self._url) as span:
            body = await self._fetch_body_once()
            if span is not None:
                span.set_attribute("openrouter.catalog.bytes", len(body))
            return body

    async def _fetch_body_once(self) -> bytes:
        try:
            response = await self._client.get(self._url, headers=self._headers)
        except httpx.TimeoutException as exc:
            raise PipeError(
                ErrorKind.CONNECT_TIMEOUT, f"catalog request timed out: {type(exc).__name__}"
            ) from exc
        except httpx.HTTPError as exc:
            raise PipeError(
                ErrorKind.CONNECTION, f"catalog request failed: {type(exc).__name__}"
            ) from exc
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise error_from_http(response.status_code, body, dict(response.headers))
        parse_catalog_body(response.content)  # only a valid payload is ever shared with the fleet
        return response.content


def parse_catalog_body(body: bytes) -> CatalogSnapshot:
    try:
        return CatalogSnapshot.from_payload(orjson.loads(body))
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
        raise PipeError(ErrorKind.SERVER, f"bad catalog payload: {exc}") from exc
