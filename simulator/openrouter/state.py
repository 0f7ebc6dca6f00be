"""Configuration and mutable state of one fake OpenRouter: the response queue, the request
journal and the fault counters. One `SimState` per app; tests reach it in-process."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulator.openrouter.faults import Fault, coerce_faults
from simulator.openrouter.physics import Physics
from simulator.openrouter.synth import Script

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "cookie", "x-api-key", "proxy-authorization"})


class SimConfig(BaseModel):
    """App-wide settings. `api_keys=None` accepts any bearer key that starts with `sk-or-`
    (the shape of real OpenRouter keys); a list accepts exactly those keys."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    api_keys: list[str] | None = None
    check_models: bool = True  # unknown model slugs get 400 model_not_found
    physics: Physics = Field(default_factory=Physics)
    faults: list[Fault] = Field(default_factory=list)
    keepalives: int = 1  # comments before the first event of generated streams
    journal_limit: int = 10_000  # keep only the newest entries (long load tests)
    catalog_path: str | None = None
    # None: fresh response ids and `created_at` per answer; a value: both derive from it and
    # the request (replayable output).
    seed: int | str | None = None
    max_body_bytes: int = 32 * 1024 * 1024  # larger request bodies get 413
    credits: float = 100.0  # `GET /credits` total; usage is the sum of answered costs
    rate_limit_requests: int = 20  # advertised in X-RateLimit-* headers on 429
    # Staged refusals (simulator/openrouter/chat.py): /responses refused for these models (they
    # must use /chat/completions); reasoning parameters rejected for these.
    responses_refused_models: list[str] = Field(default_factory=list)
    reasoning_rejected_models: list[str] = Field(default_factory=list)
    down_models: list[str] = Field(default_factory=list)  # fail like an unavailable model

    @model_validator(mode="before")
    @classmethod
    def _faults_from_text(cls, data: Any) -> Any:
        if isinstance(data, dict) and "faults" in data:
            data = {**data, "faults": coerce_faults(data["faults"])}
        return data


class QueueSpec(BaseModel):
    """One queued answer: exactly one of `script`, `events` or `status` (a plain HTTP reply)."""

    model_config = ConfigDict(extra="forbid")
    script: Script | None = None
    events: list[dict[str, Any]] | None = None
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    fault: list[Fault] = Field(default_factory=list)
    ttft: float | None = None
    tps: float | None = None
    jitter: float | None = None
    seed: int | None = None
    keepalives: int | None = None
    down_models: list[str] = Field(default_factory=list)  # unavailable for this answer
    context_length: int | None = None  # overrides the catalog's for the length check

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, data: Any) -> Any:
        if isinstance(data, dict) and "fault" in data:
            data = {**data, "fault": coerce_faults(data["fault"])}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> QueueSpec:
        given = [k for k in ("script", "events", "status") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a queued response needs exactly one of 'script', 'events' or 'status' "
                f"(got {given or 'none'})"
            )
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status {self.status} is not an HTTP status")
        return self

    def physics_overrides(self) -> dict[str, Any]:
        keys = ("ttft", "tps", "jitter", "seed")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


class SimState:
    """Queue, journal and counters, safe to touch from a test thread while the server runs."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self._lock = threading.Lock()
        self._queue: list[QueueSpec] = []
        self._head_hits = 0  # requests the head spec has answered with a pre-response fault
        self._journal: deque[dict[str, Any]] = deque(maxlen=self.config.journal_limit)
        self._fault_hits: dict[str, int] = {}
        self._generations: dict[str, dict[str, Any]] = {}
        self.open_answers = 0  # answers being sent now (see app.CountOpenAnswers)
        self.peak_open_answers = 0  # most at once since the last reset
        self.prompt_cache: dict[str, int] = {}  # prefix digest -> tokens (cache_control)

    # queue -----------------------------------------------------------------
    def enqueue(self, *specs: QueueSpec | dict[str, Any] | Script) -> int:
        """Queue answers, consumed once each in order; returns how many are pending."""
        parsed = []
        for spec in specs:
            if isinstance(spec, Script):
                spec = QueueSpec(script=spec)
            elif isinstance(spec, dict):
                spec = QueueSpec.model_validate(spec)
            parsed.append(spec)
        with self._lock:
            self._queue.extend(parsed)
            return len(self._queue)

    def pending(self) -> list[QueueSpec]:
        with self._lock:
            return list(self._queue)

    def take(self) -> tuple[QueueSpec | None, Fault | None]:
        """The next queued spec, and the pre-response fault (429/5xx with `count`) it still
        owes. A spec whose fault has a count stays at the head until that count is spent."""
        with self._lock:
            if not self._queue:
                return None, None
            spec = self._queue[0]
            for fault in spec.fault:
                if fault.kind in ("rate_limit", "server_error") and (
                    fault.count is not None and self._head_hits < fault.count
                ):
                    self._head_hits += 1
                    return spec, fault
            self._queue.pop(0)
            self._head_hits = 0
            return spec, None

    # open answers ---------------------------------------------------------------
    def answer_opened(self) -> None:
        with self._lock:
            self.open_answers += 1
            self.peak_open_answers = max(self.peak_open_answers, self.open_answers)

    def answer_closed(self) -> None:
        with self._lock:
            self.open_answers -= 1

    # fault counters -----------------------------------------------------------
    def fault_fires(self, key: str, fault: Fault) -> bool:
        """Count a request against `fault`; True while it is within its first `count`."""
        if fault.count is None:
            return True
        with self._lock:
            hits = self._fault_hits.get(key, 0)
            self._fault_hits[key] = hits + 1
            return hits < fault.count

    # journal ---------------------------------------------------------------
    def record(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: Any,
        received: float | None = None,
    ) -> dict[str, Any]:
        """Journal one request. `received` is `time.monotonic()` when its handler started
        (before the body was read): the same clock as `time.perf_counter()` in every process
        of this machine, so a benchmark can tell the client's time from the server's."""
        entry = {
            "method": method,
            "path": path,
            "query": query,
            "headers": redact_headers(headers),
            "body": body,
            "time": time.time(),
            "received": time.monotonic() if received is None else received,
        }
        with self._lock:
            if self._journal.maxlen != self.config.journal_limit:  # config was swapped
                self._journal = deque(self._journal, maxlen=self.config.journal_limit)
            self._journal.append(entry)
        return entry

    def journal(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._journal)

    # generations (`GET /generation`, `/key`, `/credits`) -----------------------------
    def add_generation(self, generation_id: str, stats: dict[str, Any]) -> None:
        with self._lock:
            self._generations[generation_id] = stats

    def generation(self, generation_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._generations.get(generation_id)

    def total_cost(self) -> float:
        with self._lock:
            return round(sum(g.get("total_cost") or 0.0 for g in self._generations.values()), 12)

    def reset(self) -> None:
        with self._lock:
            self._generations.clear()
            self._journal.clear()
            self._queue.clear()
            self._fault_hits.clear()
            self.prompt_cache.clear()
            self._head_hits = 0
            self.peak_open_answers = self.open_answers
