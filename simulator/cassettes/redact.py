"""Redaction at write time: secrets are replaced before anything reaches a cassette file.

Headers: Authorization, Proxy-Authorization, Cookie, Set-Cookie and any header whose name looks
like a key, token or secret (X-Api-Key, Api-Key, X-Auth-Token, ...). Query strings: parameters
with such names. JSON bodies: the dotted paths you configure (wildcards allowed), the defaults
below, and any field named like a credential (`api_key`, `client_secret`, `password`, ...) at any
depth. Then every secret value found, every value you configure (`--redact-value`, any length)
and anything shaped like an OpenRouter key (`sk-or-v1-...`) is scrubbed from all text, a
streamed body included: it is scrubbed as one assembled byte string, so a key split across two
network reads is caught too (`scrub_chunks`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from simulator.cassettes.jsonpath import replace_paths, split_path

REDACTED = "REDACTED"
SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
_SECRET_NAME = re.compile(r"(api[-_]?key|token|secret|password|session[-_]?key|auth)", re.I)
DEFAULT_BODY_FIELDS: tuple[str, ...] = ("api_key", "provider.api_key")


_SECRET_EXACT = {"key", "sig", "signature", "code"}
# Pieces split out of a header value ("Bearer", "session=") are scrubbed only from this length;
# whole secret values from this one (configured values at any length).
MIN_SECRET_LENGTH = 8
MIN_VALUE_LENGTH = 4
# JSON body keys that hold a credential wherever they appear (exact names: `max_output_tokens`
# must not match).
_BODY_SECRET_KEY = re.compile(
    r"^(api[-_]?key|apikey|x[-_]api[-_]key|secret|client[-_]?secret|password|passwd|token|"
    r"access[-_]?token|refresh[-_]?token|id[-_]?token|auth[-_]?token|authorization|"
    r"private[-_]?key|bearer)$",
    re.I,
)
# Key shapes scrubbed wherever they appear, whether or not the request carried them.
SECRET_PATTERNS = (
    re.compile(rb"sk-or-v1-[A-Za-z0-9_-]{8,}"),
    re.compile(rb"sk-or-[A-Za-z0-9_-]{16,}"),
    re.compile(rb"sk-(?:proj-|ant-)?[A-Za-z0-9_-]{32,}"),
)


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_HEADERS or lowered in _SECRET_EXACT or bool(_SECRET_NAME.search(name))


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(k, REDACTED if is_secret_name(k) else v) for k, v in items]


def redact_path(path: str) -> str:
    """Redact secret-looking query parameters of a request path."""
    parts = urlsplit(path)
    if not parts.query:
        return path
    query = [(k, REDACTED if is_secret_name(k) else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def secret_values(
    headers: Iterable[tuple[str, str]], path: str, body: Any, body_fields: Iterable[str]
) -> set[str]:
    """The secret strings a request carries (header values and bearer tokens, secret query
    values, values at the redacted body paths), to scrub wherever else they appear."""
    found: set[str] = set()
    pieces: set[str] = set()
    for name, value in headers:
        if is_secret_name(name):
            found.add(value)
            pieces.update(part for part in re.split(r"[\s;=,]+", value) if part)
    for name, value in parse_qsl(urlsplit(path).query, True):
        if is_secret_name(name):
            found.add(value)
    if body is not None:
        for field in body_fields:
            holder: list[Any] = []
            _collect(body, split_path(field), holder)
            found.update(v for v in holder if isinstance(v, str))
        found.update(_secret_fields(body))
    return {v for v in found if len(v) >= MIN_VALUE_LENGTH} | {
        p for p in pieces if len(p) >= MIN_SECRET_LENGTH
    }


def _secret_fields(node: Any) -> list[str]:
    """String values under credential-named keys, at any depth."""
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and _BODY_SECRET_KEY.match(key) and isinstance(value, str):
                out.append(value)
            else:
                out.extend(_secret_fields(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(_secret_fields(value))
    return out


def redact_secret_fields(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: REDACTED
            if isinstance(k, str) and _BODY_SECRET_KEY.match(k) and isinstance(v, str)
            else redact_secret_fields(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [redact_secret_fields(v) for v in node]
    return node


def _collect(node: Any, parts: tuple[str, ...], out: list[Any]) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        items = list(node.items()) if head == "*" else [(head, node[head])] if head in node else []
    elif isinstance(node, list):
        indexes = range(len(node)) if head == "*" else [int(head)] if head.isdigit() else []
        items = [(i, node[i]) for i in indexes if i < len(node)]
    else:
        return
    for _, value in items:
        if rest:
            _collect(value, rest, out)
        else:
            out.append(value)


def secret_spans(data: bytes, secrets: Iterable[str]) -> list[tuple[int, int]]:
    """Byte ranges of `data` to redact: every secret value and every key-shaped match, merged
    (longest first, so a value containing another is taken whole)."""
    spans: list[tuple[int, int]] = []
    for secret in sorted({s.encode("utf-8") for s in secrets if s}, key=len, reverse=True):
        start = data.find(secret)
        while start != -1:
            spans.append((start, start + len(secret)))
            start = data.find(secret, start + len(secret))
    for pattern in SECRET_PATTERNS:
        spans.extend(m.span() for m in pattern.finditer(data))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _scrub_bytes(data: bytes, secrets: Iterable[str]) -> bytes:
    out, pos = [], 0
    for start, end in secret_spans(data, secrets):
        out += [data[pos:start], REDACTED.encode()]
        pos = end
    out.append(data[pos:])
    return b"".join(out)


def scrub_chunks(chunks: list[bytes], secrets: Iterable[str]) -> list[bytes]:
    """Scrub a streamed body as the one byte string it assembles to, keeping the chunk
    boundaries: a secret is replaced in the chunk where it starts, and its rest is dropped
    from the chunks it spills into."""
    data = b"".join(chunks)
    spans = secret_spans(data, secrets)
    out: list[bytes] = []
    offset = 0
    for chunk in chunks:
        lo, hi = offset, offset + len(chunk)
        pieces, pos = [], lo
        for start, end in spans:
            if end <= lo or start >= hi:
                continue
            if start >= pos:
                pieces.append(data[pos:start])
            if start >= lo:
                pieces.append(REDACTED.encode())
            pos = max(pos, min(end, hi))
        pieces.append(data[pos:hi])
        out.append(b"".join(pieces))
        offset = hi
    return out


def scrub(value: Any, secrets: set[str]) -> Any:
    """Replace every secret and key-shaped string inside strings, bytes, lists and dicts."""
    if isinstance(value, str):
        return _scrub_bytes(value.encode("utf-8"), secrets).decode("utf-8", "replace")
    if isinstance(value, bytes):
        return _scrub_bytes(value, secrets)
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub(v, secrets) for v in value)
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    return value


class Redactor:
    """Applies the header rules and the configured JSON body paths."""

    def __init__(self, body_fields: Iterable[str] = (), values: Iterable[str] = ()) -> None:
        self.body_fields = tuple(dict.fromkeys((*DEFAULT_BODY_FIELDS, *body_fields)))
        for field in self.body_fields:
            split_path(field)
        self.values = frozenset(v for v in values if v)  # scrubbed at any length

    def headers(
        self, headers: Mapping[str, str] | Iterable[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        return redact_headers(headers)

    def body(self, body: Any) -> Any:
        if body is None:
            return None
        redacted, _ = replace_paths(body, self.body_fields, REDACTED)
        return redact_secret_fields(redacted)

    def path(self, path: str) -> str:
        return redact_path(path)
