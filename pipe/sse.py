"""Incremental Server-Sent Events decoder.

Fed raw bytes exactly as they come off the socket, in any chunking: UTF-8 sequences split
across reads, CRLF / CR / LF line ends (also a CR at the end of one read and its LF at the start
of the next), `:` comments (OpenRouter's keep-alives), `event:`/`id:`/`retry:` fields and
multi-line `data:`. Returns complete messages only; `flush()` at EOF returns a trailing message
that lacked its blank line.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SSEMessage:
    data: str
    event: str = ""


class SSEDecoder:
    """One per stream; not thread-safe, not shared."""

    __slots__ = ("_data", "_event", "_has_data", "_pending", "_skip_lf", "_utf8")

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # text of an unfinished line
        self._skip_lf = False  # last read ended with CR: a leading LF belongs to it
        self._data: list[str] = []
        self._has_data = False
        self._event = ""

    def feed(self, chunk: bytes) -> list[SSEMessage]:
        text = self._utf8.decode(chunk)
        if not text:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
        if "\r" in text:
            if text.endswith("\r"):
                self._skip_lf = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = self._pending + text
        lines = text.split("\n")
        self._pending = lines.pop()
        out: list[SSEMessage] = []
        data = self._data
        for line in lines:
            # Inlined fast path for the two lines of almost every event: `data: ...` and "".
            if line[:6] == "data: ":
                data.append(line[6:])
                self._has_data = True
            elif not line and self._has_data:
                out.append(SSEMessage(data[0] if len(data) == 1 else "\n".join(data), self._event))
                data.clear()
                self._has_data = False
                self._event = ""
            else:
                message = self._line(line)
                if message is not None:
                    out.append(message)
        return out

    def flush(self) -> list[SSEMessage]:
        """End of stream: finish a last line and a last message without a blank line."""
        tail = self._utf8.decode(b"", final=True)
        out: list[SSEMessage] = []
        rest = self._pending + tail
        self._pending = ""
        for line in rest.split("\n") if rest else []:
            message = self._line(line)
            if message is not None:
                out.append(message)
        message = self._line("")
        if message is not None:
            out.append(message)
        return out

    def _line(self, line: str) -> SSEMessage | None:
        if not line:
            if not self._has_data:
                self._event = ""
                return None
            message = SSEMessage("\n".join(self._data), self._event)
            self._data.clear()
            self._has_data = False
            self._event = ""
            return message
        if line[0] == ":":
            return None
        field, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
            self._has_data = True
        elif field == "event":
            self._event = value
        # id / retry / unknown fields carry nothing the pipe uses.
        return None
