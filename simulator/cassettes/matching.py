"""Request matching: method, path and a normalised JSON body; sequence-aware; explains misses.

Every interaction of every cassette is a candidate, in cassette order then recording order. A
request takes the earliest matching interaction that has not played yet, so identical requests
replay their recordings in order and each recording plays once (unless repeats are allowed, in
which case the last matching one plays again). The body's `stream` flag is never compared: the
player converts between streamed and JSON answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from simulator.cassettes.format import Cassette, Interaction
from simulator.cassettes.jsonpath import first_difference, split_path, without_paths

ALWAYS_IGNORED = ("stream",)


class NoMatchError(LookupError):
    """No recorded interaction fits the request; the message names the closest candidate and
    the first difference."""


@dataclass
class Candidate:
    cassette: str
    index: int
    interaction: Interaction
    key_body: Any
    played: int = 0

    @property
    def label(self) -> str:
        request = self.interaction.request
        return f"cassette {self.cassette!r} interaction #{self.index} ({request.method} {request.path})"


def normalise_body(body: Any, ignore_paths: Iterable[str] = ()) -> Any:
    """The body as compared: ignored paths removed, then a JSON round trip with sorted keys."""
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ALWAYS_IGNORED}
    body = without_paths(body, ignore_paths)
    return json.loads(json.dumps(body, sort_keys=True))


def _short(value: Any, limit: int = 80) -> str:
    if value == "<missing>":
        return "nothing (key absent)"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class Matcher:
    cassettes: Sequence[Cassette]
    ignore_paths: tuple[str, ...] = ()
    allow_repeats: bool = False
    candidates: list[Candidate] = field(init=False)

    def __post_init__(self) -> None:
        for path in self.ignore_paths:
            split_path(path)  # fail early on a malformed path
        self.candidates = [
            Candidate(c.name, i, inter, normalise_body(inter.request.body, self.ignore_paths))
            for c in self.cassettes
            for i, inter in enumerate(c.interactions)
        ]

    def reset(self) -> None:
        for candidate in self.candidates:
            candidate.played = 0

    def match(self, method: str, path: str, body: Any) -> Candidate:
        """Take the interaction for this request (and mark it played), or raise NoMatchError."""
        got = normalise_body(body, self.ignore_paths)
        fitting = [c for c in self.candidates if self._fits(c, method, path, got)]
        fresh = next((c for c in fitting if c.played == 0), None)
        if fresh is None and fitting and self.allow_repeats:
            fresh = fitting[-1]
        if fresh is not None:
            fresh.played += 1
            return fresh
        raise NoMatchError(self.explain(method, path, got, fitting))

    @staticmethod
    def _fits(candidate: Candidate, method: str, path: str, got: Any) -> bool:
        request = candidate.interaction.request
        return (
            request.method.upper() == method.upper()
            and request.path == path
            and candidate.key_body == got
        )

    def explain(self, method: str, path: str, got: Any, used: list[Candidate]) -> str:
        head = f"no recorded interaction matches {method.upper()} {path}"
        if used:
            return (
                f"{head}: it matches {used[0].label}, but every matching interaction has already "
                f"played ({len(used)} of them; each plays once unless repeats are allowed)"
            )
        if not self.candidates:
            return f"{head}: the player has no interactions"
        closest = max(self.candidates, key=lambda c: self._closeness(c, method, path, got))
        request = closest.interaction.request
        if request.method.upper() != method.upper():
            diff = f"method: expected {request.method.upper()}, got {method.upper()}"
        elif request.path != path:
            diff = f"path: expected {request.path}, got {path}"
        else:
            where, expected, actual = first_difference(closest.key_body, got) or ("?", None, None)
            diff = f"body at `{where}`: expected {_short(expected)}, got {_short(actual)}"
        state = " (already played)" if closest.played else ""
        return f"{head}. Closest: {closest.label}{state}; first difference in {diff}"

    @staticmethod
    def _closeness(candidate: Candidate, method: str, path: str, got: Any) -> tuple:
        request = candidate.interaction.request
        expected = candidate.key_body
        shared = 0
        if isinstance(expected, dict) and isinstance(got, dict):
            shared = sum(1 for k, v in expected.items() if got.get(k, object()) == v)
        return (
            request.method.upper() == method.upper(),
            request.path == path,
            shared,
            candidate.played == 0,
        )
