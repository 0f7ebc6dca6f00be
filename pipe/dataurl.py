"""Data URLs and media types: parsing with the size checked before decoding, MIME
normalisation (`image/jpg` -> `image/jpeg`), and the audio formats OpenRouter accepts."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?((?:;[\w-]+=[^;,]*)*)(;base64)?,", re.I)
MIME_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
}
# Responses `input_audio.format` values, keyed by the MIME type or a name a client may send.
AUDIO_FORMATS = {
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "mp3": "mp3",
    "mpeg": "mp3",
    "wav": "wav",
    "wave": "wav",
    "x-wav": "wav",
}


class MediaError(ValueError):
    """Media that cannot be sent; the message is safe to show the user."""


def normalise_mime(mime: str) -> str:
    mime = (mime or "").strip().lower()
    return MIME_ALIASES.get(mime, mime)


@dataclass(frozen=True)
class DataURL:
    mime: str
    payload: str  # base64 text, validated

    @property
    def url(self) -> str:
        return f"data:{self.mime};base64,{self.payload}"

    @property
    def size(self) -> int:
        return decoded_size(self.payload)


def decoded_size(b64: str) -> int:
    """Bytes `b64` decodes to, computed from its length (no decoding)."""
    n = len(b64)
    return n * 3 // 4 - (2 if b64.endswith("==") else 1 if b64.endswith("=") else 0)


def is_data_url(value: str) -> bool:
    return value[:5].lower() == "data:"


def parse_data_url(value: str, max_bytes: int) -> DataURL:
    """Parse a base64 data URL; the size is checked before anything is decoded."""
    match = _DATA_URL.match(value)
    if not match or not match.group(3):
        raise MediaError("the data URL is not base64-encoded")
    payload = "".join(value[match.end() :].split())
    size = decoded_size(payload)
    if size > max_bytes:
        raise MediaError(f"it is too large ({size} bytes; limit {max_bytes})")
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise MediaError("its base64 data is corrupt") from None
    return DataURL(normalise_mime(match.group(1) or "application/octet-stream"), payload)


def to_data_url(mime: str, data: bytes) -> DataURL:
    return DataURL(normalise_mime(mime), base64.b64encode(data).decode("ascii"))


def audio_format(fmt: str | None, mime: str | None = None) -> str | None:
    """`mp3`/`wav` for a declared format or MIME type; None when it is neither."""
    for value in (fmt, normalise_mime(mime or "")):
        if value:
            found = AUDIO_FORMATS.get(value.strip().lower())
            if found:
                return found
    return None


def sniff_audio(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None
