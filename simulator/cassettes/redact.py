"""Redaction at write time: secrets are replaced before anything reaches a cassette file.

Headers: Authorization, Proxy-Authorization, Cookie, Set-Cookie and any header whose name looks
like a key, token or secret (X-Api-Key, Api-Key, X-Auth-Token, ...). Query strings: parameters
with such names. JSON bodies: the dotted paths you configure (wildcards allowed), plus the
defaults below.
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
MIN_SECRET_LENGTH = 8  # shorter values are not scrubbed from free text (too many false hits)


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
    for name, value in headers:
        if is_secret_name(name):
            found.add(value)
            found.update(part for part in re.split(r"[\s;=,]+", value) if part)
    for name, value in parse_qsl(urlsplit(path).query, True):
        if is_secret_name(name):
            found.add(value)
    if body is not None:
        for field in body_fields:
            holder: list[Any] = []
            _collect(body, split_path(field), holder)
            found.update(v for v in holder if isinstance(v, str))
    return {v for v in found if len(v) >= MIN_SECRET_LENGTH}


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


def scrub(value: Any, secrets: set[str]) -> Any:
    """Replace every occurrence of a secret inside strings, bytes, lists and dicts."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, bytes):
        for secret in secrets:
            value = value.replace(secret.encode("utf-8"), REDACTED.encode())
        return value
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub(v, secrets) for v in value)
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    return value


class Redactor:
    """Applies the header rules and the configured JSON body paths."""

    def __init__(self, body_fields: Iterable[str] = ()) -> None:
        self.body_fields = tuple(dict.fromkeys((*DEFAULT_BODY_FIELDS, *body_fields)))
        for field in self.body_fields:
            split_path(field)

    def headers(
        self, headers: Mapping[str, str] | Iterable[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        return redact_headers(headers)

    def body(self, body: Any) -> Any:
        if body is None:
            return None
        redacted, _ = replace_paths(body, self.body_fields, REDACTED)
        return redacted

    def path(self, path: str) -> str:
        return redact_path(path)
