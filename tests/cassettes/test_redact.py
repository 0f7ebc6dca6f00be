"""Redaction rules: secret headers, query parameters, configured body paths, echoed secrets."""

from __future__ import annotations

import pytest

from simulator.cassettes.redact import (
    REDACTED,
    Redactor,
    redact_headers,
    redact_path,
    scrub,
    secret_values,
)

KEY = "sk-or-v1-abcdefgh12345678"


def test_secret_headers_are_redacted_and_others_kept() -> None:
    headers = {
        "Authorization": f"Bearer {KEY}",
        "Cookie": "a=b",
        "Set-Cookie": "c=d",
        "X-Api-Key": KEY,
        "api-key": KEY,
        "X-Auth-Token": KEY,
        "Content-Type": "application/json",
        "X-Title": "My app",
        "HTTP-Referer": "https://example.org",
    }
    redacted = dict(redact_headers(headers))
    for name in ("Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "api-key", "X-Auth-Token"):
        assert redacted[name] == REDACTED
    assert redacted["Content-Type"] == "application/json" and redacted["X-Title"] == "My app"
    assert redacted["HTTP-Referer"] == "https://example.org"


def test_secret_query_parameters_are_redacted() -> None:
    assert redact_path("/api/v1/models?key=abc&supported_parameters=tools") == (
        f"/api/v1/models?key={REDACTED}&supported_parameters=tools"
    )
    assert redact_path("/api/v1/responses") == "/api/v1/responses"


def test_body_paths_with_wildcards_and_defaults() -> None:
    redactor = Redactor(["metadata.email", "input.*.secret"])
    body = {
        "metadata": {"email": "a@b.c", "keep": "x"},
        "input": [{"secret": "s1", "text": "t"}, {"text": "u"}],
        "api_key": "default-path",
    }
    out = redactor.body(body)
    assert out["metadata"] == {"email": REDACTED, "keep": "x"}
    assert out["input"] == [{"secret": REDACTED, "text": "t"}, {"text": "u"}]
    assert out["api_key"] == REDACTED
    assert body["metadata"]["email"] == "a@b.c"  # the original is untouched
    assert redactor.body(None) is None
    with pytest.raises(ValueError, match="bad JSON path"):
        Redactor(["metadata."])


def test_secret_values_are_scrubbed_wherever_they_are_echoed() -> None:
    secrets = secret_values(
        [("authorization", f"Bearer {KEY}"), ("x-title", "visible title")],
        "/x?token=tok-0123456789",
        {"metadata": {"email": "alice@example.org"}},
        ["metadata.email"],
    )
    assert {KEY, "tok-0123456789", "alice@example.org"} <= secrets
    assert "Bearer" not in secrets and "visible title" not in secrets  # short or not secret
    echoed = {"error": {"message": f"bad key {KEY}"}, "list": [("alice@example.org",)]}
    assert scrub(echoed, secrets) == {
        "error": {"message": f"bad key {REDACTED}"},
        "list": [(REDACTED,)],
    }
    assert scrub(f"data: {KEY}\n\n".encode(), secrets) == f"data: {REDACTED}\n\n".encode()
    assert scrub(42, secrets) == 42 and scrub("x", set()) == "x"
