"""Replay markers: the invisible lines that tie an assistant message to its stored artifacts.

A marker is a Markdown link-reference definition on its own line, `[or:<artifact id>]: #`,
which Markdown renderers (Open WebUI's included) show as nothing. Markers are appended to the
end of the answer once the artifacts are committed; the text itself travels back with the
chat history (browser, API clients, mobile apps alike). Positions are counted in visible
non-space characters, so the line breaks a host adds or strips between text pieces do not
move an artifact.
"""

from __future__ import annotations

import re

MARKER_PREFIX = "or:"
MARKER_RE = re.compile(r"^[ \t]*\[or:([A-Za-z0-9_-]{22})\]: #[ \t]*$", re.MULTILINE)


def render_markers(ids: list[str]) -> str:
    """The chunk that follows the answer: a blank line, then one marker per line."""
    if not ids:
        return ""
    return "\n\n" + "\n".join(f"[{MARKER_PREFIX}{i}]: #" for i in ids)


def find_markers(text: str) -> list[str]:
    return MARKER_RE.findall(text) if "[or:" in text else []


def strip_markers(text: str) -> str:
    """The text without its marker lines (and without the blank lines they leave at the end)."""
    if "[or:" not in text:
        return text
    cleaned = MARKER_RE.sub("", text)
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned)
    return cleaned.rstrip()


def visible_length(text: str) -> int:
    """How many non-space characters the text has (an artifact's position is counted so)."""
    return sum(map(len, text.split()))  # split() drops exactly the isspace() characters


def index_after(text: str, visible: int) -> int:
    """The index in `text` just after its `visible`-th non-space character (clamped)."""
    if visible <= 0:
        return 0
    seen = 0
    for index, ch in enumerate(text):
        if not ch.isspace():
            seen += 1
            if seen == visible:
                return index + 1
    return len(text)
