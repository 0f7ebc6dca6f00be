"""Incremental Server-Sent Events decoder.

Fed raw bytes exactly as they come off the socket, in any chunking: UTF-8 sequences split
across reads, CRLF / CR / LF line ends (also a CR at the end of one read and its LF at the start
of the next), `:` comments (OpenRouter's keep-alives), `event:`/`id:`/`retry:` fields and
multi-line `data:`. Returns the `data` of complete messages only, as strings (the event name is
read and dropped: OpenRouter names the type inside the data, and a plain string per message is
the cheapest thing to hold while a read of a thousand events is decoded); `flush()` at EOF
returns a trailing message that lacked its blank line.
"""

from __future__ import annotations

import codecs


class SSEDecoder:
    """One per stream; not thread-safe, not shared."""

    __slots__ = ("_data", "_has_data", "_pending", "_skip_lf", "_utf8", "_utf8_clean")

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._utf8_clean = True  # the incremental decoder holds no partial character
        self._pending = ""  # text of an unfinished line
        self._skip_lf = False  # last read ended with CR: a leading LF belongs to it
        self._data: list[str] = []
        self._has_data = False

    def _text(self, chunk: bytes) -> str:
        # A read almost always holds whole characters: plain `decode` is 3x cheaper than the
        # incremental decoder, which is kept for split or invalid sequences.
        if self._utf8_clean:
            try:
                return chunk.decode()
            except UnicodeDecodeError:
                pass
        text = self._utf8.decode(chunk)
        self._utf8_clean = not self._utf8.getstate()[0]
        return text

    def feed(self, chunk: bytes) -> list[str]:
        # Fast path: a read that is exactly one `data:` event with nothing pending, which is
        # how OpenRouter writes a stream (one event per chunk).
        if (
            chunk[-2:] == b"\n\n"
            and chunk[:6] == b"data: "
            and not self._pending
            and not self._has_data
            and not self._skip_lf
            and self._utf8_clean
        ):
            body = chunk[6:-2]
            if 10 not in body and 13 not in body:  # no LF / CR inside (int tests: 5x faster)
                try:
                    return [body.decode()]
                except UnicodeDecodeError:
                    pass
        text = self._text(chunk)
        if not text or self._skip_lf or "\r" in text:
            return self._feed_text(text) if text else []
        out: list[str] = []
        if self._has_data:
            # The read before ended just after a `data:` line; this one usually starts with
            # the blank line that ends that message.
            if text[0] != "\n" or self._pending:
                return self._feed_text(text)
            out.append(self._dispatch())
            text = text[1:]
        if self._pending:  # the start of a line (of a new message) from the read before
            text, self._pending = self._pending + text, ""
        # A read of many whole `data:` events (the reader takes a window's worth at once):
        # split on the blank lines, one slice per event; keep-alive comments are dropped.
        frames = text.split("\n\n")
        tail = frames.pop()
        data = [f[6:] for f in frames if f[:6] == "data: " and "\n" not in f]
        if len(data) != len(frames) and not all(
            (f[:6] == "data: " or f[:1] == ":") and "\n" not in f for f in frames
        ):
            return out + self._feed_text(text)  # other fields or multi-line data
        out += data
        if tail:
            out += self._feed_text(tail)
        return out

    def _feed_text(self, text: str) -> list[str]:
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
        if "\r" in text:
            if text.endswith("\r"):
                self._skip_lf = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if self._pending:
            text = self._pending + text
        lines = text.split("\n")
        self._pending = lines.pop()
        out: list[str] = []
        data = self._data
        for line in lines:
            # Inlined fast path for the two lines of almost every event: `data: ...` and "".
            if line[:6] == "data: ":
                data.append(line[6:])
                self._has_data = True
            elif not line and self._has_data:
                out.append(self._dispatch())
            else:
                message = self._line(line)
                if message is not None:
                    out.append(message)
        return out

    def _dispatch(self) -> str:
        data = self._data
        message = data[0] if len(data) == 1 else "\n".join(data)
        data.clear()
        self._has_data = False
        return message

    def flush(self) -> list[str]:
        """End of stream: finish a last line and a last message without a blank line."""
        tail = self._utf8.decode(b"", final=True)
        self._utf8_clean = True
        out: list[str] = []
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

    def _line(self, line: str) -> str | None:
        if not line:
            return self._dispatch() if self._has_data else None
        if line[0] == ":":
            return None
        field, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
            self._has_data = True
        # event / id / retry / unknown fields carry nothing the pipe uses.
        return None
