"""Multimodal intake: the images, files and audio of a chat, made sendable before translation.

Runs on the chat-completions `messages` (as Open WebUI sends them) and rewrites every user
content part into its Responses shape with bytes OpenRouter can use:
- images: data URLs (size-checked before decoding), Open WebUI file references (relative
  `/api/v1/files/<id>[/content]` URLs) read from Open WebUI's storage and inlined, remote URLs
  passed on as they are or downloaded by the safe fetcher and inlined (a valve);
- files: `input_file` with the bytes inlined (from a data URL or Open WebUI storage; also the
  chat's `__files__` documents), for models that accept files;
- audio: `input_audio` with its format normalised; remote audio URLs are refused.
Whatever cannot be sent is dropped from the request and named in a notice (a status line for
the user); the rest of the message always goes out.
"""

from __future__ import annotations

import base64
import copy
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .dataurl import (
    MediaError,
    audio_format,
    is_data_url,
    normalise_mime,
    parse_data_url,
    sniff_audio,
    to_data_url,
)
from .fetch import FetchRefused, SafeFetcher
from .logs import get_logger
from .model_info import ModelInfo
from .wire import json_object

OWUI_FILE_URL = re.compile(r"^/api/v1/files/([A-Za-z0-9_-]+)(?:/content)?/?(?:[?#].*)?$")
# Documents sent natively as input_file; anything else stays with Open WebUI's retrieval.
NATIVE_FILE_TYPES = frozenset(
    {"application/pdf", "text/plain", "text/markdown", "text/csv", "application/json"}
)


@dataclass(frozen=True)
class StoredFile:
    id: str
    name: str
    content_type: str
    data: bytes = field(repr=False)


class FileStore(Protocol):
    """Open WebUI's file storage as the intake needs it (implemented by the adapter)."""

    async def read(self, file_id: str, user: dict[str, Any], max_bytes: int) -> StoredFile | None:
        """The file's bytes if it exists and `user` may read it; MediaError if too large."""
        ...


@dataclass(frozen=True)
class MediaPolicy:
    max_images: int = 5
    max_image_bytes: int = 10 * 1024 * 1024
    max_file_bytes: int = 20 * 1024 * 1024
    max_audio_bytes: int = 20 * 1024 * 1024
    remote_images: Literal["pass", "inline"] = "pass"
    native_files: bool = True


@dataclass
class Intake:
    messages: list[Any]
    notices: list[str] = field(default_factory=list)
    images: int = 0


class MediaIntake:
    def __init__(
        self,
        policy: MediaPolicy,
        model: ModelInfo | None,
        store: FileStore | None,
        fetcher: SafeFetcher | None,
        user: dict[str, Any],
    ) -> None:
        self.policy = policy
        self.model = model
        self.store = store
        self.fetcher = fetcher
        self.user = user
        self.notices: list[str] = []

    # model capabilities: unknown model (no catalog) means "let OpenRouter decide"
    def _can(self, capability: str) -> bool:
        return self.model is None or bool(getattr(self.model, capability))

    def _drop(self, what: str, why: str) -> None:
        self.notices.append(f"{what} not sent: {why}")

    @property
    def _model_name(self) -> str:
        return self.model.slug if self.model else "this model"

    async def run(self, messages: Any, files: Any) -> Intake:
        if not isinstance(messages, list):
            return Intake(messages=messages)
        out = copy.copy(messages)
        images_seen = 0
        # Newest first, so the image cap keeps the most recent images.
        for index in range(len(out) - 1, -1, -1):
            msg = out[index]
            if not isinstance(msg, dict) or msg.get("role") != "user":
                continue
            content = msg.get("content")
            if not isinstance(content, list):
                continue
            parts: list[Any] = []
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind in ("image_url", "input_image"):
                    if images_seen >= self.policy.max_images:
                        self._drop("An image", f"at most {self.policy.max_images} per request")
                        continue
                    image = await self._image(part)
                    if image is not None:
                        images_seen += 1
                        parts.append(image)
                elif kind in ("file", "input_file"):
                    doc = await self._file_part(part)
                    if doc is not None:
                        parts.append(doc)
                elif kind == "input_audio":
                    audio = self._audio(part)
                    if audio is not None:
                        parts.append(audio)
                else:
                    parts.append(part)
            out[index] = {**msg, "content": parts}
        await self._attach_chat_files(out, files)
        return Intake(messages=out, notices=self.notices, images=images_seen)

    # ------------------------------------------------------------------ images

    async def _image(self, part: dict[str, Any]) -> dict[str, Any] | None:
        raw = part.get("image_url")
        url = raw.get("url") if isinstance(raw, dict) else raw
        detail = (raw.get("detail") if isinstance(raw, dict) else None) or part.get("detail")
        if not isinstance(url, str) or not url.strip():
            self._drop("An image", "it has no URL")
            return None
        if not self._can("vision"):
            self._drop("An image", f"{self._model_name} does not accept images")
            return None
        url = url.strip()
        try:
            final = await self._image_url(url)
        except MediaError as exc:
            self._drop("An image", str(exc))
            return None
        out: dict[str, Any] = {"type": "input_image", "image_url": final}
        if detail in ("auto", "high", "low", "original"):
            out["detail"] = detail
        return out

    async def _image_url(self, url: str) -> str:
        limit = self.policy.max_image_bytes
        if is_data_url(url):
            data = parse_data_url(url, limit)
            if not data.mime.startswith("image/"):
                raise MediaError(f"{data.mime} is not an image type")
            return data.url
        match = OWUI_FILE_URL.match(url)
        if match:
            stored = await self._stored(match.group(1), limit)
            if not normalise_mime(stored.content_type).startswith("image/"):
                raise MediaError(f"the file {stored.name!r} is not an image")
            return to_data_url(stored.content_type, stored.data).url
        scheme = url.split(":", 1)[0].lower()
        if scheme not in ("http", "https"):
            raise MediaError("only data, Open WebUI file and http(s) image URLs are supported")
        if self.policy.remote_images == "pass":
            return url  # OpenRouter fetches public URLs itself
        if self.fetcher is None:
            raise MediaError("remote images cannot be downloaded here")
        try:
            fetched = await self.fetcher.fetch(url, accept=lambda ct: ct.startswith("image/"))
        except FetchRefused as exc:
            get_logger().info("remote image refused: %s", exc.reason)
            raise MediaError(f"the download was refused: {exc.reason}") from None
        return to_data_url(fetched.content_type, fetched.data).url

    async def _stored(self, file_id: str, limit: int) -> StoredFile:
        if self.store is None:
            raise MediaError("Open WebUI's file storage is not reachable from the pipe")
        stored = await self.store.read(file_id, self.user, limit)
        if stored is None:
            raise MediaError("the file was not found (or you may not read it)")
        return stored

    # ------------------------------------------------------------------ files

    async def _file_part(self, part: dict[str, Any]) -> dict[str, Any] | None:
        spec = json_object(part.get("file")) or part
        name = str(spec.get("filename") or spec.get("name") or "document")
        if not (self.policy.native_files and self._can("file_input")):
            why = "native file input is switched off"
            if self.policy.native_files:
                why = f"{self._model_name} does not accept files"
            self._drop(f"The file {name!r}", why + " (Open WebUI's retrieval still applies)")
            return None
        limit = self.policy.max_file_bytes
        try:
            data_url = spec.get("file_data")
            file_url = spec.get("file_url")
            file_id = spec.get("file_id") or spec.get("id")
            if isinstance(data_url, str) and is_data_url(data_url):
                return _input_file(name, parse_data_url(data_url, limit).url)
            if isinstance(file_url, str) and OWUI_FILE_URL.match(file_url):
                file_id = OWUI_FILE_URL.match(file_url).group(1)  # type: ignore[union-attr]
            elif isinstance(file_url, str) and file_url.lower().startswith("https://"):
                return {"type": "input_file", "filename": name, "file_url": file_url}
            if isinstance(file_id, str) and file_id:
                stored = await self._stored(file_id, limit)
                return _input_file(stored.name or name, _stored_url(stored))
            raise MediaError("it has no data OpenRouter can read")
        except MediaError as exc:
            self._drop(f"The file {name!r}", str(exc))
            return None

    async def _attach_chat_files(self, messages: list[Any], files: Any) -> None:
        """Documents attached in Open WebUI (`__files__`) go to the last user message."""
        docs = [
            f
            for f in (files if isinstance(files, list) else [])
            if isinstance(f, dict) and f.get("type", "file") == "file" and f.get("id")
        ]
        target = next(
            (i for i in range(len(messages) - 1, -1, -1) if _role(messages[i]) == "user"), None
        )
        if not docs or target is None:
            return
        if not (self.policy.native_files and self._can("file_input") and self.store is not None):
            return  # Open WebUI's own retrieval already put their text in the prompt
        parts: list[Any] = []
        for doc in docs:
            name = str(doc.get("name") or (doc.get("file") or {}).get("filename") or doc["id"])
            try:
                stored = await self._stored(str(doc["id"]), self.policy.max_file_bytes)
            except MediaError as exc:
                self._drop(f"The file {name!r}", str(exc))
                continue
            mime = normalise_mime(stored.content_type)
            if mime not in NATIVE_FILE_TYPES:
                continue  # images arrive as image parts; other types stay with retrieval
            parts.append(_input_file(stored.name or name, _stored_url(stored)))
        if parts:
            msg = messages[target]
            content = msg.get("content")
            if not isinstance(content, list):
                content = [{"type": "input_text", "text": str(content or "")}]
            messages[target] = {**msg, "content": [*content, *parts]}

    # ------------------------------------------------------------------ audio

    def _audio(self, part: dict[str, Any]) -> dict[str, Any] | None:
        spec = json_object(part.get("input_audio"))
        data = spec.get("data")
        if not self._can("audio_input"):
            self._drop("An audio clip", f"{self._model_name} does not accept audio")
            return None
        if not isinstance(data, str) or not data.strip():
            self._drop("An audio clip", "it has no data")
            return None
        data = data.strip()
        if data.lower().startswith(("http://", "https://")):
            self._drop("An audio clip", "audio must be uploaded, not linked by URL")
            return None
        try:
            if is_data_url(data):
                parsed = parse_data_url(data, self.policy.max_audio_bytes)
                payload, mime = parsed.payload, parsed.mime
            else:
                parsed = parse_data_url(
                    "data:application/octet-stream;base64," + data, self.policy.max_audio_bytes
                )
                payload, mime = parsed.payload, ""
        except MediaError as exc:
            self._drop("An audio clip", str(exc))
            return None
        fmt = audio_format(spec.get("format"), mime)
        if fmt is None:
            fmt = sniff_audio(base64.b64decode(payload[:64] + "=" * (-len(payload[:64]) % 4)))
        if fmt is None:
            self._drop("An audio clip", "only mp3 and wav audio can be sent")
            return None
        return {"type": "input_audio", "input_audio": {"data": payload, "format": fmt}}


def _role(msg: Any) -> Any:
    return msg.get("role") if isinstance(msg, dict) else None


def _stored_url(stored: StoredFile) -> str:
    return to_data_url(stored.content_type or "application/octet-stream", stored.data).url


def _input_file(name: str, data_url: str) -> dict[str, Any]:
    return {"type": "input_file", "filename": name, "file_data": data_url}
