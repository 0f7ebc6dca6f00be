"""The model catalog cache: one per (base URL, API key), shared by every request.

Fresh for `ttl` seconds; after a failed refresh the last good snapshot is served (stale) and
no new fetch is tried until a backoff (5 s doubling, capped at the TTL) has passed, so a down
OpenRouter is not hammered by every model listing. Concurrent callers share one fetch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from .errors import ErrorKind, PipeError, error_from_http
from .logs import get_logger
from .model_info import CatalogSnapshot

CATALOG_BACKOFF_BASE_SECONDS = 5.0


class ModelCatalog:
    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        headers: dict[str, str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/models"
        self._headers = headers
        self._clock = clock
        self._lock = asyncio.Lock()
        self._snapshot: CatalogSnapshot | None = None
        self._fetched_at = 0.0
        self._failures = 0
        self._retry_at = 0.0
        self._last_error: PipeError | None = None

    @property
    def snapshot(self) -> CatalogSnapshot | None:
        return self._snapshot

    def _fresh(self, ttl: float) -> bool:
        return self._snapshot is not None and self._clock() - self._fetched_at < ttl

    async def get(self, ttl: float) -> CatalogSnapshot:
        """The current snapshot; raises PipeError only when nothing was ever loaded."""
        if self._fresh(ttl):
            return self._snapshot  # type: ignore[return-value]
        async with self._lock:
            if self._fresh(ttl):
                return self._snapshot  # type: ignore[return-value]
            if self._clock() >= self._retry_at:
                try:
                    snapshot = await self._fetch()
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
                    self._snapshot, self._fetched_at = snapshot, self._clock()
                    self._failures, self._retry_at, self._last_error = 0, 0.0, None
            if self._snapshot is None:
                raise self._last_error or PipeError(
                    ErrorKind.CONNECTION, "model catalog unavailable"
                )
            return self._snapshot

    async def _fetch(self) -> CatalogSnapshot:
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
        try:
            return CatalogSnapshot.from_payload(response.json())
        except ValueError as exc:
            raise PipeError(ErrorKind.SERVER, f"bad catalog payload: {exc}") from exc
