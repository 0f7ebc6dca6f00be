"""Load-test answers: opt-in, per request, by a marker in the last user message.

    [orsim-load nonce=k3f9a2 tokens=150 tps=40 ttft=0.3 jitter=0.2 fail=0.01 r429=0.02]

turns the default echo into an answer of `tokens` text deltas, one token each, every token
`<nonce>.<seq>@<send time, 16-digit microseconds since the epoch> ` (the trailing space is
part of the token). The send time is written into the frame just before it goes to the
socket, so a client can measure per-token delivery lag (arrival minus send) through any
number of proxies and coalescers, and the nonce plus the sequence numbers let it prove the
answer is its own and complete (no cross-talk, nothing cut). `fail` / `r429` are the shares
of requests answered with a 503 / 429 before streaming. Physics keys override the app's
(`--physics`); `tps` paces one token per 1/tps seconds. The marker travels inside the chat,
so it works through real Open WebUI too. Without the marker nothing here runs.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from simulator.cassettes.played import PlayedChunk
from simulator.openrouter import answers, synth
from simulator.openrouter.errors import SimHTTPError
from simulator.openrouter.faults import Fault
from simulator.openrouter.physics import Physics, parse_physics
from simulator.openrouter.script import Script, Usage
from simulator.openrouter.streaming import render_stream

MARKER = re.compile(r"\[orsim-load ([^\]]*)\]")
STAMP = "~" * 16  # replaced by the send time in microseconds (same width, so JSON stays valid)
STAMP_BYTES = STAMP.encode()
MAX_TOKENS = 100_000
_DELTA_PREFIX = b'data: {"type":"response.output_text.delta"'
_PHYSICS_KEYS = frozenset({"ttft", "tps", "jitter", "seed", "keepalive_every"})


@dataclass(frozen=True)
class LoadRequest:
    nonce: str
    tokens: int
    fail: float = 0.0
    r429: float = 0.0
    physics: tuple[tuple[str, object], ...] = ()


def parse_marker(text: str) -> LoadRequest | None:
    """The marker's settings, None when the text has no marker; a bad marker is a 400."""
    m = MARKER.search(text)
    if m is None:
        return None
    fields: dict[str, str] = {}
    for part in m.group(1).split():
        key, sep, value = part.partition("=")
        if not sep:
            raise SimHTTPError(400, f"orsim-load: {part!r} is not key=value")
        fields[key] = value
    nonce = fields.pop("nonce", "")
    if not re.fullmatch(r"[0-9A-Za-z]{1,32}", nonce):
        raise SimHTTPError(400, "orsim-load: nonce must be 1-32 letters or digits")
    try:
        tokens = int(fields.pop("tokens", "100"))
        fail = float(fields.pop("fail", "0"))
        r429 = float(fields.pop("r429", "0"))
    except ValueError as exc:
        raise SimHTTPError(400, f"orsim-load: {exc}") from exc
    if not 1 <= tokens <= MAX_TOKENS or not (0 <= fail <= 1 and 0 <= r429 <= 1):
        raise SimHTTPError(400, f"orsim-load: tokens must be 1-{MAX_TOKENS}, fail/r429 0-1")
    unknown = set(fields) - _PHYSICS_KEYS
    if unknown:
        raise SimHTTPError(400, f"orsim-load: unknown keys {sorted(unknown)}")
    try:
        physics = parse_physics(";".join(f"{k}={v}" for k, v in fields.items()))
    except ValueError as exc:
        raise SimHTTPError(400, f"orsim-load: {exc}") from exc
    return LoadRequest(nonce, tokens, fail, r429, tuple(sorted(physics.items())))


def token_text(nonce: str, seq: int, stamp: str = STAMP) -> str:
    return f"{nonce}.{seq}@{stamp} "


def load_chunks(load: LoadRequest, model: str, physics: Physics) -> list[PlayedChunk]:
    """The timed stream of a load answer (stamps still blank), or a 429/503 by chance."""
    roll = random.random()
    if roll < load.r429:
        raise answers.fault_error(Fault(kind="rate_limit", message="Rate limit exceeded"))
    if roll < load.r429 + load.fail:
        raise answers.fault_error(
            Fault(kind="server_error", message="Provider returned error (load-test failure)")
        )
    physics = physics.merged(dict(load.physics))
    text = "".join(token_text(load.nonce, n) for n in range(load.tokens))
    script = Script(
        model=model,
        seed=load.nonce,
        text=text,
        chunk_words=1,
        usage=Usage(input_tokens=20, output_tokens=load.tokens),
    )
    unpaced = physics.model_copy(update={"tps": None})
    chunks = render_stream(synth.build_events(script), unpaced)
    if physics.tps is None:
        return chunks
    rng = random.Random(physics.seed)
    step = 1.0 / physics.tps
    out = []
    for chunk in chunks:
        if chunk.data.startswith(_DELTA_PREFIX):
            factor = 1 + physics.jitter * rng.uniform(-1, 1) if physics.jitter else 1.0
            chunk = PlayedChunk(chunk.delay + step * factor, chunk.data)
        out.append(chunk)
    return out


async def stamped(chunks: list[PlayedChunk]) -> AsyncIterator[bytes]:
    """Send the chunks on time, writing the send time into each frame as it goes out."""
    for chunk in chunks:
        if chunk.delay > 0:
            await asyncio.sleep(chunk.delay)
        data = chunk.data
        if STAMP_BYTES in data:
            data = data.replace(STAMP_BYTES, b"%016d" % (time.time_ns() // 1000))
        yield data
