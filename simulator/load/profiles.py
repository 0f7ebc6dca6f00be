"""Named load profiles for `orsim load`: who chats how, against what, and what must hold.

A profile fixes the locust shape (a constant number of users, or a shape file from
loadtests/), the answers the fake OpenRouter streams (tokens, physics, error shares), the
pipe's valves in the fake host, and the thresholds the run must meet (exit status 1 if not).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

COALESCE_MS = 40  # the pipe's default STREAM_COALESCE_MS (the lag target is this + 20 ms)


@dataclass(frozen=True)
class Thresholds:
    max_failure_share: float = 0.0  # failed chats / chats (crosstalk is always zero-tolerance)
    min_chats: int = 1
    lag_p99_ms: float | None = None
    ttft_p99_ms: float | None = None
    # step shape: the overflow of the first wave gets "busy" at once
    busy_first_wave: tuple[int, int] | None = None  # (at least, at most) busy first chats
    first_wave: int | None = None  # users whose first chat must finish (no hang)
    busy_p99_ms: float | None = None
    rss_growth_mb: float | None = None  # soak: per worker, warm (after 1/5 of the run) to end


@dataclass(frozen=True)
class Profile:
    name: str
    about: str
    users: int = 20
    spawn_rate: float = 20.0
    duration: float = 30.0  # seconds of locust run time (shapes stop by themselves)
    shape: str | None = None  # loadtests/shape_<shape>.py
    shape_args: dict[str, Any] = field(default_factory=dict)
    tokens: int = 100
    long_share: float = 0.0
    long_tokens: int = 1000
    upstream: str = "tps=40 ttft=0.3 jitter=0.2"  # physics + error shares per answer
    wait: float = 0.5  # max seconds a user pauses between chats
    workers: int = 2  # fake host worker processes
    valves: dict[str, Any] = field(default_factory=dict)
    reset_stats: bool = True  # drop the ramp-up from the stats (constant-user profiles)
    thresholds: Thresholds = field(default_factory=Thresholds)

    def with_users(self, users: int | None) -> Profile:
        if not users:
            return self
        return replace(self, users=users, spawn_rate=max(self.spawn_rate, users / 10))


_BIG_LIMITS = {"MAX_CONCURRENT_REQUESTS": 2000, "REQUEST_QUEUE_SIZE": 2000}

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "smoke",
            "20 streaming chats for 15 s on 2 host workers; every answer complete and its own",
            users=20,
            spawn_rate=20,
            duration=15,
            tokens=40,
            upstream="tps=50 ttft=0.1 jitter=0.2",
            wait=0.3,
            valves=_BIG_LIMITS,
            thresholds=Thresholds(min_chats=20),
        ),
        Profile(
            "hold",
            "USERS concurrent streaming chats (default 100) held for 60 s after ramp-up; "
            f"zero failures, delivery lag p99 <= {COALESCE_MS} + 20 ms",
            users=100,
            spawn_rate=25,
            duration=75,
            tokens=200,
            long_share=0.05,
            upstream="tps=40 ttft=0.3 jitter=0.2",
            valves=_BIG_LIMITS,
            thresholds=Thresholds(lag_p99_ms=COALESCE_MS + 20),
        ),
        Profile(
            "ramp",
            "users 0 -> 600 in steps of 50 every 20 s, to find the knee (see lag.png / ttft.png); "
            "zero failures",
            shape="ramp",
            shape_args={"ramp-max": 600, "ramp-step": 50, "ramp-every": 20},
            duration=260,
            tokens=200,
            upstream="tps=40 ttft=0.3 jitter=0.2",
            valves=_BIG_LIMITS,
            reset_stats=False,
        ),
        Profile(
            "step",
            "90 users at once against 2 workers x (20 running + 10 waiting): the 30 over "
            "capacity get 'Server busy' at once; no hang, no 5xx",
            shape="step",
            shape_args={"step-users": 90, "step-hold": 25},
            duration=40,
            tokens=200,
            upstream="tps=20 ttft=0.2",  # 10 s answers: the first wave holds every slot
            wait=1.0,
            valves={"MAX_CONCURRENT_REQUESTS": 20, "REQUEST_QUEUE_SIZE": 10},
            reset_stats=False,
            thresholds=Thresholds(busy_first_wave=(30, 39), first_wave=90, busy_p99_ms=1000),
        ),
        Profile(
            "soak",
            "100 streaming chats for 10 minutes; worker RSS must not grow more than 30 MB "
            "after warm-up; zero failures",
            users=100,
            spawn_rate=25,
            duration=600,
            tokens=200,
            long_share=0.05,
            valves=_BIG_LIMITS,
            thresholds=Thresholds(rss_growth_mb=30),
        ),
    )
}
