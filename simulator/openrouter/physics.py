"""Streaming physics: when each generated event goes out (time to first token, tokens per
second, jitter from a seeded RNG). All zero means instant, which is the default and what
tests use; benchmarks and load tests turn it on per app, per queued spec or per request.

Text syntax (header `X-Sim-Physics`, CLI `--physics`): `ttft=0.4;tps=60;jitter=0.2;seed=7`.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.openrouter.synth import estimate_tokens

DELTA_TYPES = frozenset(
    {
        "response.output_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
        "response.function_call_arguments.delta",
        "response.refusal.delta",
    }
)


class Physics(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ttft: float = Field(default=0.0, ge=0)  # seconds from headers to the first event
    tps: float | None = Field(default=None, gt=0)  # tokens per second for deltas; None: no pacing
    jitter: float = Field(default=0.0, ge=0, le=1)  # +- fraction applied to each delta's delay
    seed: int = 0
    keepalive_every: float = Field(default=1.0, gt=0)  # a `: OPENROUTER PROCESSING` this often

    @property
    def instant(self) -> bool:
        return self.ttft == 0 and self.tps is None

    def merged(self, override: dict[str, Any] | None) -> Physics:
        return self.model_copy(update=override) if override else self

    def keepalive_delays(self) -> list[float]:
        """Delays of the comments sent while the 'model thinks' (the first one at once)."""
        if self.ttft <= 0:
            return [0.0]
        n = max(1, int(self.ttft / self.keepalive_every + 1e-9))
        return [0.0] + [self.ttft / n] * (n - 1)

    def first_event_delay(self) -> float:
        if self.ttft <= 0:
            return 0.0
        n = max(1, int(self.ttft / self.keepalive_every + 1e-9))
        return self.ttft / n

    def event_delays(self, events: list[dict[str, Any]]) -> list[float]:
        """One delay per event: deltas wait tokens/tps (with jitter), other events go at once."""
        rng = random.Random(self.seed)
        delays = []
        for n, event in enumerate(events):
            delay = 0.0
            if self.tps and event.get("type") in DELTA_TYPES:
                tokens = max(1, estimate_tokens(event.get("delta", "")))
                factor = 1 + self.jitter * rng.uniform(-1, 1) if self.jitter else 1.0
                delay = tokens / self.tps * factor
            if n == 0:
                delay += self.first_event_delay()
            delays.append(delay)
        return delays


def parse_physics(text: str) -> dict[str, Any]:
    """Parse `ttft=0.4;tps=60` into a dict of overrides (validated against `Physics`)."""
    data: dict[str, Any] = {}
    for part in text.replace(",", ";").split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"physics parameter {part!r} is not key=value")
        data[key.strip()] = value.strip()
    try:
        checked = Physics.model_validate(data, strict=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"bad physics {text!r}: {first['loc'][0]}: {first['msg']}") from exc
    return {k: getattr(checked, k) for k in data}
