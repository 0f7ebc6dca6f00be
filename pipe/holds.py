"""Cool-down windows ("wait until T") by scope, shared by every worker when Redis is on.

A scope names what must wait: `rate:<key id>:<model>` after a 429 with Retry-After,
`auth:<key id>` after OpenRouter refused a key. Each window is kept in this process (so a
worker that learned it never asks again) and, with Redis, under one key with a millisecond TTL,
so every worker sees it and it disappears by itself. A window only ever grows: a shorter hold
never cuts a longer one short. Redis down: the per-process copy still holds.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ErrorKind, PipeError
from .logs import get_logger
from .redislink import RedisLink, RedisUnavailable

_EXTEND_HOLD = """
local current = redis.call('PTTL', KEYS[1])
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
  return 1
end
return 0
"""


def key_id(api_key: str) -> str:
    """A short, non-reversible name for an API key (scopes, logs)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Hold:
    remaining: float  # seconds left
    reason: str


class Holds:
    def __init__(
        self, link: RedisLink | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._link = link
        self._clock = clock
        self._local: dict[str, tuple[float, str]] = {}
        self._extend: Any = None

    def _remember(self, scope: str, seconds: float, reason: str) -> None:
        until = self._clock() + seconds
        current = self._local.get(scope)
        if current is None or current[0] < until:
            self._local[scope] = (until, reason)

    def _local_hold(self, scope: str) -> Hold | None:
        entry = self._local.get(scope)
        if entry is None:
            return None
        remaining = entry[0] - self._clock()
        if remaining <= 0:
            del self._local[scope]
            return None
        return Hold(remaining, entry[1])

    async def hold(self, scope: str, seconds: float, reason: str) -> None:
        if seconds <= 0:
            return
        self._remember(scope, seconds, reason)
        if self._link is None:
            return
        link = self._link
        if self._extend is None:
            self._extend = link.client.register_script(_EXTEND_HOLD)
        script = self._extend
        millis = max(1, int(seconds * 1000))
        try:
            await link.run(
                lambda client: script(
                    keys=[link.key("hold", scope)], args=[millis, reason], client=client
                )
            )
        except RedisUnavailable:
            pass

    async def held(self, *scopes: str) -> Hold | None:
        """The longest window still open among `scopes`, or None."""
        found = [h for h in (self._local_hold(s) for s in scopes) if h is not None]
        remote = [s for s in scopes if self._local_hold(s) is None]
        if remote and self._link is not None:
            link = self._link

            async def read(client: Any) -> list[Any]:
                pipe = client.pipeline(transaction=False)
                for scope in remote:
                    pipe.get(link.key("hold", scope))
                    pipe.pttl(link.key("hold", scope))
                return list(await pipe.execute())

            try:
                replies = await link.run(read)
            except RedisUnavailable:
                replies = []
            for i, scope in enumerate(remote):
                if not replies:
                    break
                reason, millis = replies[2 * i], replies[2 * i + 1]
                if reason is not None and millis and millis > 0:
                    text = reason.decode() if isinstance(reason, bytes) else str(reason)
                    self._remember(scope, millis / 1000, text)
                    found.append(Hold(millis / 1000, text))
        return max(found, key=lambda h: h.remaining, default=None)

    async def clear(self, scope: str) -> None:
        self._local.pop(scope, None)
        if self._link is not None:
            link = self._link
            try:
                await link.run(lambda client: client.delete(link.key("hold", scope)))
            except RedisUnavailable:
                pass


RATE_HOLD_MAX_SECONDS = 600.0

# The hold reasons that refuse the whole key, with the error a held call is answered with.
KEY_REFUSALS = {"auth": (ErrorKind.AUTH, 401), "forbidden": (ErrorKind.FORBIDDEN, 403)}


def key_refusal(error: PipeError) -> str | None:
    """The hold reason when `error` refuses the key itself: a 401, or a 403 that is not a
    moderation flag (a disabled key, a key without permission). A moderation 403 is about one
    input, so it must not pause every user of the key."""
    if error.kind is ErrorKind.AUTH and error.status == 401:
        return "auth"
    moderation = (
        error.details.get("flagged_input")
        or error.details.get("reasons")
        or error.error_type == "content_policy_violation"
    )
    if error.kind is ErrorKind.FORBIDDEN and error.status == 403 and not moderation:
        return "forbidden"
    return None


@dataclass
class UpstreamGate:
    """What OpenRouter told any worker about this key, applied before every upstream call:
    a 429 with Retry-After holds (key, model) for that long; a refused key (401, or a 403 that
    is not a moderation flag) holds the key for `auth_seconds`. A held call waits (up to `max_wait`) or fails at once with the
    error OpenRouter gave, without calling it again."""

    holds: Holds
    key: str  # key_id(api_key)
    auth_seconds: float

    def _scopes(self, model: str) -> tuple[str, str]:
        return f"auth:{self.key}", f"rate:{self.key}:{model}"

    async def before(self, model: str, max_wait: float) -> None:
        hold = await self.holds.held(*self._scopes(model))
        if hold is None:
            return
        if hold.reason in KEY_REFUSALS:
            kind, status = KEY_REFUSALS[hold.reason]
            raise PipeError(
                kind,
                "OpenRouter refused this API key moments ago; not trying it again for "
                f"{hold.remaining:.0f}s.",
                status=status,
                retryable=False,
            )
        if hold.remaining <= max_wait:
            get_logger().info("rate limit window for %s: waiting %.2fs", model, hold.remaining)
            await asyncio.sleep(hold.remaining)
            return
        raise PipeError(
            ErrorKind.RATE_LIMIT,
            f"OpenRouter asked to wait {hold.remaining:.0f}s before calling {model} again.",
            status=429,
            retry_after=hold.remaining,
            retryable=False,
        )

    async def learn(self, model: str, error: PipeError) -> None:
        auth, rate = self._scopes(model)
        refusal = key_refusal(error)
        if refusal is not None and self.auth_seconds > 0:
            await self.holds.hold(auth, self.auth_seconds, refusal)
        elif error.kind is ErrorKind.RATE_LIMIT and error.retry_after:
            await self.holds.hold(rate, min(error.retry_after, RATE_HOLD_MAX_SECONDS), "429")
