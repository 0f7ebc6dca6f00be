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


def is_secret_name(name: str) -> bool:
    return name.lower() in SECRET_HEADERS or bool(_SECRET_NAME.search(name))


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
