"""One Redis connection for the pipe, and whether Redis answers.

Redis is an accelerator, never a dependency of a chat: every call goes through `RedisLink.run`,
which raises `RedisUnavailable` at once while Redis is known to be down (no network wait on the
chat's path), logs the outage once, lets one caller probe again every `RETRY_SECONDS`, and logs
once more when Redis answers again. Callers catch `RedisUnavailable` and fall back to their
per-process path. A command error that says nothing about availability (a wrong type, a
missing consumer group) is raised as the redis `ResponseError` it is.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    BusyLoadingError,
    ReadOnlyError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .logs import get_logger

T = TypeVar("T")

REDIS_CONNECT_TIMEOUT = 1.0
# Longer than the flusher's blocking read (1 s), short enough that a hung server frees a chat.
REDIS_SOCKET_TIMEOUT = 3.0
RETRY_SECONDS = 2.0
# Errors that mean "this server cannot serve us right now", not "this command was wrong".
_DOWN_REPLIES = ("OOM ", "MISCONF ", "LOADING ", "READONLY ", "MASTERDOWN ", "NOREPLICAS ")


class RedisUnavailable(Exception):
    """Redis did not answer (or is known to be down): use the per-process path."""


def redis_label(url: str) -> str:
    """host:port/db for logs: never the password a URL may carry."""
    match = re.match(r"^(rediss?|unix)://(?:[^@/]*@)?([^/?#]*)(/[^?#]*)?", url.strip())
    if not match:
        return "redis (unparsable URL)"
    return f"{match.group(1)}://{match.group(2)}{match.group(3) or ''}"


def _means_down(exc: BaseException) -> bool:
    if isinstance(
        exc,
        RedisConnectionError | RedisTimeoutError | BusyLoadingError | ReadOnlyError | OSError,
    ):
        return True
    if isinstance(exc, asyncio.TimeoutError):
        return True
    return isinstance(exc, ResponseError) and str(exc).upper().startswith(_DOWN_REPLIES)


def connect(url: str) -> aioredis.Redis:
    """A client that fails fast: short timeouts, one retry only for a dropped connection (we
    fall back instead). The retry is what keeps a Redis restart from looking like several
    outages: each pooled connection to the old server fails once, and on a fresh connection
    the command goes through (or is refused at once if Redis is really down). Timeouts are
    never retried."""
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        socket_timeout=REDIS_SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        retry_on_timeout=False,
        health_check_interval=15,
        decode_responses=False,
        # CLIENT LIST then tells an operator which worker processes are connected.
        client_name=f"openrouter-pipe:{socket.gethostname()}:{os.getpid()}",
    )


class RedisLink:
    def __init__(
        self,
        url: str,
        client: aioredis.Redis | None = None,
        *,
        namespace: str = "openrouter-pipe",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.label = redis_label(url)
        self.namespace = namespace
        self.client = client if client is not None else connect(url)
        self._clock = clock
        self._down = False
        self._probe_at = 0.0
        self.outages = 0  # how many times Redis went away (tests, diagnostics)

    def key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    @property
    def down(self) -> bool:
        """Known down and not yet due for another try."""
        return self._down and self._clock() < self._probe_at

    async def run(self, op: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        if self._down:
            if self._clock() < self._probe_at:
                raise RedisUnavailable(self.label)
            self._probe_at = self._clock() + RETRY_SECONDS  # one prober at a time
        try:
            result = await op(self.client)
        except Exception as exc:
            if not _means_down(exc):
                self._answered()  # an error reply is an answer: Redis is up
                raise
            self._went_down(exc)
            raise RedisUnavailable(self.label) from exc
        self._answered()
        return result

    def _answered(self) -> None:
        if self._down:
            self._down = False
            get_logger().warning("Redis at %s answers again; shared state is back", self.label)

    def _went_down(self, exc: BaseException) -> None:
        self._probe_at = self._clock() + RETRY_SECONDS
        if self._down:
            return
        self._down = True
        self.outages += 1
        get_logger().warning(
            "Redis at %s is unavailable (%s); chats go on with per-process state and direct "
            "database writes until it answers again",
            self.label,
            type(exc).__name__,
        )

    async def aclose(self) -> None:
        try:
            await self.client.aclose()
        except Exception:  # closing a dead connection must not fail shutdown
            pass


async def run_or(link: RedisLink | None, op: Callable[[Any], Awaitable[T]], default: T) -> T:
    """`op` on Redis, or `default` when there is no Redis or it is down."""
    if link is None:
        return default
    try:
        return await link.run(op)
    except RedisUnavailable:
        return default
