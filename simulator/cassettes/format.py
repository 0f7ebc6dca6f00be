"""The cassette format: pydantic models and their readable YAML form (see docs/cassettes.md).

A streamed response keeps every chunk exactly as it arrived (bytes and time offset from the
request start) and a derived per-event view (raw frame and offset), so both chunk boundaries and
timing survive a round trip. Loading validates and names the file and the bad field.
"""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulator.cassettes.sse import split_frames

FORMAT_VERSION = 1


class CassetteError(ValueError):
    """A cassette file that cannot be read: the message names the file and the bad field."""


def _encode(data: bytes) -> dict[str, str]:
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(data).decode("ascii")}


class _Bytes(BaseModel):
    """Bytes stored as `text` when valid UTF-8, else as `b64` (subclasses declare the fields
    after their own, so the YAML reads offset first)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _exactly_one(self) -> _Bytes:
        text, b64 = getattr(self, "text", None), getattr(self, "b64", None)
        if (text is None) == (b64 is None):
            raise ValueError("give exactly one of `text` or `b64`")
        if b64 is not None:
            try:
                base64.b64decode(b64, validate=True)
            except ValueError as exc:
                raise ValueError(f"`b64` is not valid base64: {exc}") from None
        return self

    @property
    def data(self) -> bytes:
        text = getattr(self, "text", None)
        if text is not None:
            return text.encode("utf-8")
        return base64.b64decode(getattr(self, "b64", None) or "")


class Chunk(_Bytes):
    """One read from the socket, `offset` seconds after the request started."""

    offset: float = Field(ge=0)
    text: str | None = None
    b64: str | None = None

    @classmethod
    def of(cls, offset: float, data: bytes) -> Chunk:
        return cls(offset=round(offset, 6), **_encode(data))


class Event(_Bytes):
    """One SSE frame (with its blank line), complete `offset` seconds after the request started.
    `type` is a readable label: the JSON `type`, or comment / done / unknown / empty."""

    offset: float = Field(ge=0)
    type: str = ""
    text: str | None = None
    b64: str | None = None


class RecordedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str = Field(min_length=1)
    path: str = Field(pattern=r"^/")
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None


class RecordedResponse(BaseModel):
    """Status and headers, then either a stream (`chunks` + derived `events`) or a JSON `body`."""

    model_config = ConfigDict(extra="forbid")

    status: int = Field(ge=100, le=599)
    headers: list[tuple[str, str]] = Field(default_factory=list)
    headers_offset: float = Field(default=0.0, ge=0)
    chunks: list[Chunk] | None = None
    events: list[Event] | None = None
    body: Any = None
    body_offset: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> RecordedResponse:
        if self.chunks is None and self.events is not None:
            # Hand-authored shorthand: one chunk per event.
            self.chunks = [Chunk(offset=e.offset, text=e.text, b64=e.b64) for e in self.events]
        if self.chunks is None:
            return self
        if self.body is not None:
            raise ValueError("a response has either `chunks`/`events` (a stream) or `body`")
        last = 0.0
        for index, chunk in enumerate(self.chunks):
            if chunk.offset < last:
                raise ValueError(
                    f"chunks.{index}.offset goes back in time ({chunk.offset} < {last})"
                )
            last = chunk.offset
        derived = derive_events(self.chunks)
        if self.events is not None:
            raw = b"".join(e.data for e in self.events)
            if raw != self.raw_stream():
                raise ValueError(
                    "`events` do not add up to the bytes of `chunks`; edit both or delete `events`"
                )
        self.events = derived
        return self

    @property
    def is_stream(self) -> bool:
        return self.chunks is not None

    @property
    def is_sse(self) -> bool:
        return self.is_stream and "event-stream" in (self.header("content-type") or "")

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def raw_stream(self) -> bytes:
        return b"".join(c.data for c in self.chunks or [])


def derive_events(chunks: list[Chunk]) -> list[Event]:
    """The per-event view of a chunk list: each frame's bytes and the offset of its last byte."""
    data = b"".join(c.data for c in chunks)
    ends: list[tuple[int, float]] = []  # (end position of chunk, its offset)
    position = 0
    for chunk in chunks:
        position += len(chunk.data)
        ends.append((position, chunk.offset))
    events: list[Event] = []
    cursor = 0
    for frame in split_frames(data):
        while cursor < len(ends) - 1 and ends[cursor][0] < frame.end:
            cursor += 1
        offset = ends[cursor][1] if ends else 0.0
        events.append(
            Event(offset=offset, type=frame.label, **_encode(data[frame.start : frame.end]))
        )
    return events


class Interaction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request: RecordedRequest
    response: RecordedResponse


class Cassette(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = FORMAT_VERSION
    name: str = Field(min_length=1)
    description: str = ""
    synthesised: bool
    recorded_at: str = ""
    source: str = ""
    interactions: list[Interaction] = Field(default_factory=list)


# ---- YAML --------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Literal blocks keep SSE frames readable (JSON without escaped quotes, one line per line).
    style = "|" if "\n" in value and "\r" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _tuple(dumper: yaml.SafeDumper, value: tuple) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", list(value), flow_style=True)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(tuple, _tuple)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def dump_cassette(cassette: Cassette) -> str:
    data = cassette.model_dump(mode="python", exclude_none=True)
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1 << 20)


def parse_cassette(text: str, *, source: str = "<string>") -> Cassette:
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise CassetteError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CassetteError(f"{source}: a cassette is a YAML mapping, got {type(data).__name__}")
    try:
        return Cassette.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise CassetteError(f"{source}: field `{where}`: {first['msg']}{more}") from None


def load_cassette(path: str | os.PathLike[str]) -> Cassette:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CassetteError(f"{path}: cannot read: {exc}") from None
    return parse_cassette(text, source=str(path))


def load_cassettes(path: str | os.PathLike[str]) -> list[Cassette]:
    """One cassette file, or every `*.yaml` file of a directory in name order."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"})
        if not files:
            raise CassetteError(f"{path}: no *.yaml cassettes in this directory")
        return [load_cassette(p) for p in files]
    return [load_cassette(path)]


def save_cassette(cassette: Cassette, path: str | os.PathLike[str]) -> None:
    """Write atomically (temp file + rename) so the file is valid at every moment."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dump_cassette(cassette)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cassette is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def stream_response(
    status: int,
    headers: list[tuple[str, str]],
    chunks: list[tuple[float, bytes]],
    *,
    headers_offset: float = 0.0,
) -> RecordedResponse:
    return RecordedResponse(
        status=status,
        headers=headers,
        headers_offset=round(headers_offset, 6),
        chunks=[Chunk.of(offset, data) for offset, data in chunks],
    )
