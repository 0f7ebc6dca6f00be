"""The model catalog cache: one per (base URL, API key), shared by every request.

Fresh for `ttl` seconds. A stale snapshot is served at once while ONE refresh runs in the
background (no request waits on the network while a catalog exists); only a first load (or a
load after the valves changed) is waited for, by every caller at once, and it is bounded by the
timeout valves. After a failed fetch no new one is tried until a backoff (5 s doubling, capped
at the TTL) has passed, so a down OpenRouter is not hammered by every model listing; with no
snapshot at all, callers in the backoff get the last error at once. Headers and timeouts come
with every call, so a valve change applies to the next fetch without a restart.
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
        clock: Callable[[], float] = time.monotonic,
        scope: str = "catalog",
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/models"
        self._clock = clock
        self._scope = scope  # the fleet-wide cache entry's name
        self._fingerprint = ""  # the settings the snapshot was loaded under
        self._tried = ""  # the settings of the last fetch (its backoff is theirs)
        self._snapshot: CatalogSnapshot | None = None
        self._fetched_at = 0.0
        self._failures = 0
        self._retry_at = 0.0
        self._last_error: PipeError | None = None
        self._fetching: asyncio.Task[None] | None = None

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
        self,
        ttl: float,
        headers: dict[str, str],
        http_timeout: httpx.Timeout | None = None,
        fleet: FleetCache | None = None,
        fingerprint: str = "",
    ) -> CatalogSnapshot:
        """The current snapshot; raises PipeError only when nothing was ever loaded."""
        if self._fresh(ttl, fingerprint):
            return self._snapshot  # type: ignore[return-value]
        same_settings = fingerprint == self._fingerprint
        if fingerprint != self._tried and self._fetching is None:
            self._retry_at = 0.0  # new settings: try at once, whatever failed before
        task = self._refresh(ttl, headers, http_timeout, fleet, fingerprint)
        if self._snapshot is not None and same_settings:
            return self._snapshot  # stale: served now, the refresh runs on its own
        if task is not None:
            await asyncio.shield(task)  # a caller that goes away leaves the fetch to the others
        if self._snapshot is None:
            raise self._last_error or PipeError(ErrorKind.CONNECTION, "model catalog unavailable")
        return self._snapshot

    def _refresh(
        self,
        ttl: float,
        headers: dict[str, str],
        http_timeout: httpx.Timeout | None,
        fleet: FleetCache | None,
        fingerprint: str,
    ) -> asyncio.Task[None] | None:
        """The running fetch, or a new one unless the backoff forbids it."""
        if self._fetching is None and self._clock() >= self._retry_at:
            self._tried = fingerprint
            self._fetching = asyncio.get_running_loop().create_task(
                self._update(ttl, headers, http_timeout, fleet, fingerprint)
            )
        return self._fetching

    async def _update(
        self,
        ttl: float,
        headers: dict[str, str],
        http_timeout: httpx.Timeout | None,
        fleet: FleetCache | None,
        fingerprint: str,
    ) -> None:
        try:
            if fleet is None:
                body, age = await self._fetch_body(headers, http_timeout), 0.0
            else:
                body, left = await fleet.get(
                    self._scope, fingerprint, ttl, lambda: self._fetch_body(headers, http_timeout)
                )
                age = max(0.0, ttl - left)
            snapshot = parse_catalog_body(body)
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
        finally:
            self._fetching = None

    async def settled(self) -> None:
        """Wait for a background refresh, if one runs."""
        if self._fetching is not None:
            await asyncio.shield(self._fetching)

    def close(self) -> None:
        if self._fetching is not None:
            self._fetching.cancel()

    async def _fetch_body(
        self, headers: dict[str, str], http_timeout: httpx.Timeout | None
    ) -> bytes:
        """One GET of the catalog (a span of its own when telemetry is on)."""
        with catalog_span(self._url) as span:
            body = await self._fetch_body_once(headers, http_timeout)
            if span is not None:
                span.set_attribute("openrouter.catalog.bytes", len(body))
            return body

    async def _fetch_body_once(
        self, headers: dict[str, str], http_timeout: httpx.Timeout | None
    ) -> bytes:
        timeout = httpx.USE_CLIENT_DEFAULT if http_timeout is None else http_timeout
        try:
            response = await self._client.get(self._url, headers=headers, timeout=timeout)
        except httpx.TimeoutException as exc:
            kind = (
                ErrorKind.READ_TIMEOUT
                if isinstance(exc, httpx.ReadTimeout)
                else ErrorKind.CONNECT_TIMEOUT
            )
            raise PipeError(
                kind, f"the model list request timed out ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise PipeError(
                ErrorKind.CONNECTION, f"the model list request failed ({type(exc).__name__})"
            ) from exc
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise error_from_http(response.status_code, body, dict(response.headers))
        try:
            parse_catalog_body(response.content)  # only a valid payload is shared with the fleet
        except PipeError:
            media = response.headers.get("content-type", "").split(";")[0] or "no content type"
            raise PipeError(
                ErrorKind.SERVER, f"the model list is not OpenRouter's JSON ({media})"
            ) from None
        return response.content


def parse_catalog_body(body: bytes) -> CatalogSnapshot:
    try:
        return CatalogSnapshot.from_payload(orjson.loads(body))
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
        raise PipeError(ErrorKind.SERVER, f"bad catalog payload: {exc}") from exc
