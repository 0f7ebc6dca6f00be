"""Checks for valves that become HTTP headers or URLs.

A header value must be printable ASCII (httpx refuses anything else, and a CR or LF would
split the header); a base URL must be an absolute http(s) URL with a host, so a typo is
refused when the valve is saved instead of failing every chat as a "connection error".
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator


def _printable_ascii(value: str, what: str) -> str:
    for ch in value:
        if not " " <= ch <= "~":
            shown = repr(ch)
            raise ValueError(
                f"{what} must be printable ASCII (it is sent as an HTTP header): "
                f"{shown} is not allowed"
            )
    return value


def check_header_text(value: str) -> str:
    return _printable_ascii(value.strip(), "this value")


def check_http_url(value: str, *, allow_empty: bool = False) -> str:
    value = value.strip()
    if not value and allow_empty:
        return value
    _printable_ascii(value, "the URL")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(
            f"{value!r} is not an http(s) URL with a host, e.g. https://openrouter.ai/api/v1"
        )
    if " " in value or parts.query or parts.fragment:
        raise ValueError(f"{value!r} must not contain spaces, a query or a fragment")
    return value


def check_optional_http_url(value: str) -> str:
    return check_http_url(value, allow_empty=True)


BaseUrlValve = Annotated[str, AfterValidator(check_http_url)]
HeaderUrlValve = Annotated[str, AfterValidator(check_optional_http_url)]
HeaderTextValve = Annotated[str, AfterValidator(check_header_text)]


def header_safe(value: str) -> bool:
    """True when `value` can be sent as a header (stored valves may predate the checks)."""
    return all(" " <= ch <= "~" for ch in value)
