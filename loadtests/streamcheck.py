"""Checks one streamed chat answer of a load test: whose it is, whether it is whole, and how
late each token arrived. Pure Python (no locust, no gevent) so tests can use it directly.

The fake OpenRouter answers a message holding `[orsim-load nonce=N tokens=T ...]` with T
tokens `N.<seq>@<send time in microseconds> ` (simulator/openrouter/loadgen.py). The pipe and
the host may merge tokens into bigger chunks; a token is never split across our reads
because we parse only whole tokens (ending in a space) and keep the rest for the next chunk.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field

TOKEN = re.compile(r"([0-9A-Za-z]+)\.(\d+)@(\d{16}) ")
ERROR_HEADING = "### ⚠️ "  # how the pipe renders a failure for the user (pipe/errors.py)
BUSY_TITLE = "Server busy"


def new_nonce() -> str:
    return secrets.token_hex(6)


def load_prompt(nonce: str, tokens: int, extra: str = "") -> str:
    """The user message that asks the fake OpenRouter for a stamped answer."""
    settings = f"nonce={nonce} tokens={tokens}" + (f" {extra.strip()}" if extra.strip() else "")
    return f"Load test chat. [orsim-load {settings}]"


@dataclass
class Verdict:
    """`kind` is "ok", "busy", or a failure kind: crosstalk, incomplete, garbled, upstream
    error titles ("error: <title>"), http_<status>, empty."""

    kind: str
    tokens: int
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


@dataclass
class StreamCheck:
    nonce: str
    expected: int
    started: float = field(default_factory=time.time)
    first_token_at: float | None = None
    last_token_at: float | None = None
    text: list[str] = field(default_factory=list)
    _pending: str = ""
    _next_seq: int = 0
    _foreign: set[str] = field(default_factory=set)
    _out_of_order: int = 0
    _garbage: int = 0

    def feed(self, content: str, arrived: float | None = None) -> list[float]:
        """Add a piece of streamed content; returns the delivery lag (ms) of each whole token
        it completed."""
        arrived = time.time() if arrived is None else arrived
        self.text.append(content)
        if content.startswith(ERROR_HEADING) or self._pending.startswith(ERROR_HEADING):
            self._pending += content
            return []
        buf = self._pending + content
        lags = []
        pos = 0
        for m in TOKEN.finditer(buf):
            if m.start() != pos:
                self._garbage += 1
            pos = m.end()
            nonce, seq = m.group(1), int(m.group(2))
            if nonce != self.nonce:
                self._foreign.add(nonce)
                continue
            if seq != self._next_seq:
                self._out_of_order += 1
            self._next_seq = seq + 1
            lags.append(arrived * 1000.0 - int(m.group(3)) / 1000.0)
        self._pending = buf[pos:]
        if lags:
            if self.first_token_at is None:
                self.first_token_at = arrived
            self.last_token_at = arrived
        return lags

    @property
    def received(self) -> int:
        return self._next_seq

    def ttft_ms(self) -> float | None:
        if self.first_token_at is None:
            return None
        return (self.first_token_at - self.started) * 1000.0

    def tokens_per_second(self) -> float | None:
        if self.first_token_at is None or self.last_token_at is None or self.received < 2:
            return None
        span = self.last_token_at - self.first_token_at
        return (self.received - 1) / span if span > 0 else None

    def verdict(self) -> Verdict:
        whole = "".join(self.text)
        heading = whole.find(ERROR_HEADING)
        if heading >= 0:
            title = whole[heading + len(ERROR_HEADING) :].split("\n", 1)[0].strip()
            kind = "busy" if title == BUSY_TITLE else f"error: {title}"
            return Verdict(kind, self.received, whole[heading : heading + 300])
        if self._foreign:
            return Verdict("crosstalk", self.received, f"foreign nonces {sorted(self._foreign)}")
        if self._out_of_order or self._garbage or self._pending.strip():
            return Verdict(
                "garbled",
                self.received,
                f"{self._out_of_order} out of order, {self._garbage} gaps, "
                f"tail {self._pending[:60]!r}",
            )
        if not whole:
            return Verdict("empty", 0)
        if self.received != self.expected:
            return Verdict("incomplete", self.received, f"{self.received}/{self.expected} tokens")
        return Verdict("ok", self.received)
