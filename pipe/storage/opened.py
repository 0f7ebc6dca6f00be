"""`OpenedArtifacts`: this process's memory of artifacts it recently sealed or opened.

A chat's next turn usually reaches the worker that answered the turn before, so most of what it
replays was sealed or opened here a moment ago; keeping those items in the clear saves the
database round trip and the decryption of the whole history on every turn (a 50-turn chat with
tool results is 150 items, several milliseconds before the first token).

- Keyed by (user id, artifact id): a marker another user forged or pasted finds nothing here
  either, exactly as in the database.
- Entries live at most `ttl` seconds: a row deleted elsewhere (retention, an operator, another
  worker's `next_reply` removal) stops replaying from here within that time. Item types that
  must be read fresh (reasoning kept for the next reply only, deleted once replayed) are
  skipped on lookup by the caller.
- Bounded by the bytes of the items' JSON; the least recently used go first. Size 0 turns it off.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Sequence

from .codec import Artifact

DEFAULT_TTL_SECONDS = 3600.0  # a chat paused for a coffee still replays from memory
ENTRY_OVERHEAD_BYTES = 512  # the key, the Artifact and its dict, roughly


class OpenedArtifacts:
    def __init__(
        self,
        max_bytes: int,
        ttl: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max(0, max_bytes)
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, int, Artifact]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def resize(self, max_bytes: int) -> None:
        self.max_bytes = max(0, max_bytes)
        self._evict()

    def get(
        self, user_id: str, ids: Sequence[str], skip_types: Collection[str] = ()
    ) -> dict[str, Artifact]:
        """The live entries among `ids` for this user (each refreshed as recently used)."""
        found: dict[str, Artifact] = {}
        if not self._entries:
            return found
        now = self._clock()
        for artifact_id in ids:
            key = (user_id, artifact_id)
            entry = self._entries.get(key)
            if entry is None:
                continue
            expires, _, artifact = entry
            if expires <= now:
                self._remove(key)
            elif artifact.item_type not in skip_types:
                self._entries.move_to_end(key)
                found[artifact_id] = artifact
        return found

    def put(self, artifact: Artifact, size: int) -> None:
        cost = size + ENTRY_OVERHEAD_BYTES
        if cost > self.max_bytes:
            return
        key = (artifact.user_id, artifact.id)
        self._remove(key)
        self._entries[key] = (self._clock() + self.ttl, cost, artifact)
        self.bytes += cost
        self._evict()

    def drop(self, user_id: str, ids: Iterable[str]) -> None:
        for artifact_id in ids:
            self._remove((user_id, artifact_id))

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def _remove(self, key: tuple[str, str]) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry[1]

    def _evict(self) -> None:
        while self.bytes > self.max_bytes and self._entries:
            _, (_, cost, _) = self._entries.popitem(last=False)
            self.bytes -= cost
