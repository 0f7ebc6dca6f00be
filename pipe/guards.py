"""A breaker per user: BREAKER_MAX_FAILURES failed requests within BREAKER_WINDOW_SECONDS (a
success resets the count) pause that user's requests for BREAKER_COOLDOWN_SECONDS, so one user
whose requests keep failing does not hammer OpenRouter for everyone.

The pause is a `Holds` window (scope `breaker:<user id>`), so with Redis every worker honours
it; the failures are counted per process (`FailureWindows`). A refused API key has its own
cool-down (`holds.UpstreamGate`, AUTH_FAILURE_COOLDOWN_SECONDS).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from .errors import ErrorKind, PipeError
from .holds import Holds

# Failures that came from calling OpenRouter (a malformed body, a full queue or a paused user
# cost no call and do not count; a rejected key has its own cool-down).
BREAKER_KINDS = frozenset(
    {
        ErrorKind.BAD_REQUEST,
        ErrorKind.FORBIDDEN,
        ErrorKind.NOT_FOUND,
        ErrorKind.UPSTREAM_TIMEOUT,
        ErrorKind.RATE_LIMIT,
        ErrorKind.SERVER,
        ErrorKind.CONNECT_TIMEOUT,
        ErrorKind.READ_TIMEOUT,
        ErrorKind.CONNECTION,
        ErrorKind.STREAM_ERROR,
        ErrorKind.STREAM_CUT,
        ErrorKind.MALFORMED_STREAM,
        ErrorKind.NOT_AN_ANSWER,
    }
)


class FailureWindows:
    """Recent failures per name, in this process."""

    def __init__(self) -> None:
        self._times: dict[str, deque[float]] = {}

    def add(self, name: str, window: float) -> int:
        """Record a failure; how many happened within the last `window` seconds."""
        now = time.monotonic()
        times = self._times.setdefault(name, deque())
        times.append(now)
        while times and times[0] <= now - window:
            times.popleft()
        return len(times)

    def reset(self, name: str) -> None:
        self._times.pop(name, None)


@dataclass(frozen=True)
class GuardPolicy:
    breaker_failures: int = 5
    breaker_window: float = 60.0
    breaker_cooldown: float = 30.0

    @classmethod
    def from_valves(cls, valves: Any) -> GuardPolicy:
        return cls(
            breaker_failures=valves.BREAKER_MAX_FAILURES,
            breaker_window=valves.BREAKER_WINDOW_SECONDS,
            breaker_cooldown=valves.BREAKER_COOLDOWN_SECONDS,
        )


class RequestGuard:
    def __init__(
        self, holds: Holds, failures: FailureWindows, policy: GuardPolicy, user: str
    ) -> None:
        self._holds = holds
        self._failures = failures
        self._policy = policy
        self._scope = f"breaker:{user}" if user and policy.breaker_failures > 0 else ""

    async def check(self) -> None:
        """Raise when the user's breaker is open (no call is made)."""
        if not self._scope:
            return
        hold = await self._holds.held(self._scope)
        if hold is not None:
            raise PipeError(
                ErrorKind.PAUSED,
                f"Your last {self._policy.breaker_failures} requests to OpenRouter failed"
                f" ({hold.reason}); yours are paused for {max(1, round(hold.remaining))} s.",
                retryable=False,
            )

    async def record(self, error: PipeError | None) -> None:
        """After the request: a success resets the user's count; a failure counts."""
        if not self._scope:
            return
        if error is None:
            self._failures.reset(self._scope)
        elif error.kind in BREAKER_KINDS:
            policy = self._policy
            if self._failures.add(self._scope, policy.breaker_window) >= policy.breaker_failures:
                await self._holds.hold(self._scope, policy.breaker_cooldown, error.kind.value)
                self._failures.reset(self._scope)  # the next window starts afresh
