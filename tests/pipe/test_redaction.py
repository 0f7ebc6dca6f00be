"""What users see never carries a secret and is bounded: errors, status lines, citations and
tool error outputs all pass one redaction and a length cap. Inputs use real key shapes."""

from __future__ import annotations

import logging
import secrets
import string

import pytest

from pipe.errors import ErrorKind, PipeError, render_error
from pipe.logs import LOGGER_NAME
from pipe.redaction import REDACTED, redact, user_text
from simulator.openrouter.state import SimConfig
from tests.pipe.helpers import (
    Recorder,
    chat_body,
    make_pipe,
    run_pipe,
)
from tests.pipe.tool_helpers import CITY, call, error_of, outputs_of, owui_tools, script, sent

_ALNUM = string.ascii_letters + string.digits


def _rand(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def openrouter_key() -> str:
    return "sk-or-v1-" + secrets.token_hex(32)  # 64 hex, as OpenRouter issues them


REAL_SHAPES = {
    "openrouter": openrouter_key(),
    "openai_project": "sk-proj-" + _rand(74, _ALNUM + "_-") + "A",
    "anthropic": "sk-ant-api03-" + _rand(93, _ALNUM + "_-") + "AA",
    "github": "ghp_" + _rand(36),
    "github_fine_grained": "github_pat_11" + _rand(20) + "_" + _rand(59),
    "slack": "xoxb-" + "-".join(_rand(12, string.digits) for _ in range(2)) + "-" + _rand(24),
    "google": "AIza" + _rand(35, _ALNUM + "_-"),
    "aws_access_key": "AKIA" + _rand(16, string.ascii_uppercase + string.digits),
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0." + _rand(43, _ALNUM + "_-"),
}


@pytest.mark.parametrize("name", sorted(REAL_SHAPES))
def test_every_common_key_shape_is_redacted(name):
    key = REAL_SHAPES[name]
    text = redact(f"upstream said: invalid credential {key} (check it)")
    assert key not in text and REDACTED in text
    assert key[len(key) // 2 :] not in text  # not even the tail


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer {t}",
        "api_key={t}&model=x",
        '{{"apiKey": "{t}"}}',
        "password: {t}",
    ],
)
def test_bearer_tokens_and_assignments_are_redacted(text):
    token = _rand(40)
    out = redact(text.format(t=token))
    assert token not in out and REDACTED in out


def test_user_text_caps_a_huge_string_cheaply_and_says_so():
    key = openrouter_key()
    huge = "x" * 999 + " " + key + " " + "y" * 2_000_000
    out = user_text(huge, 1_000)
    assert len(out) < 1_100 and key not in out and key[:20] not in out
    assert f"{len(huge):,} characters in all" in out


def test_rendered_error_never_contains_the_key():
    key = openrouter_key()
    err = PipeError(ErrorKind.AUTH, f"Invalid key {key}", status=401)
    text = render_error(err, error_id="abc")
    assert key not in text and "sk-or-v1-" + key[9:17] not in text
    assert "Invalid key [redacted]" in text and "abc" in text


def test_two_megabyte_upstream_message_is_capped():
    err = PipeError(ErrorKind.SERVER, "provider exploded: " + "E" * 2_000_000, status=502)
    text = render_error(err, error_id="abc")
    assert len(text) < 4_000 and "provider exploded" in text and "characters in all" in text


def test_template_widths_are_bounded_and_the_real_error_kept(caplog):
    err = PipeError(ErrorKind.RATE_LIMIT, "slow down please", status=429)
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        text = render_error(err, error_id="e1", template="{title:>100000000}\n{message}")
    assert len(text) < 2_000
    assert "slow down please" in text and "Rate limited by OpenRouter" in text
    assert "ERROR_TEMPLATE could not be used" in text
    assert any("ERROR_TEMPLATE" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "template", ["### {title\n{message}", "{message.__class__.__mro__}", "{0}", "{nope}"]
)
def test_invalid_template_falls_back_and_keeps_the_real_error(template):
    err = PipeError(ErrorKind.SERVER, "the provider is down", status=503)
    text = render_error(err, error_id="e2", template=template)
    assert "the provider is down" in text and "HTTP 503" in text and "e2" in text
    assert "__mro__" not in text.split("could not be used")[0]


def test_valid_template_is_used_as_written():
    err = PipeError(ErrorKind.SERVER, "down", status=503)
    text = render_error(err, error_id="e3", template="**{title:<10}** {message} ({kind})")
    assert text == "**OpenRouter or the model provider had an error** down (server)"


async def test_upstream_error_quoting_the_key_shows_the_user_no_key(openrouter_sim, caplog):
    key = openrouter_key()
    openrouter_sim.state.config = SimConfig(api_keys=[key])
    body = {"error": {"code": 401, "message": f"Invalid key {key} for this account"}}
    openrouter_sim.enqueue({"status": 401, "body": body})
    rec = Recorder()
    with caplog.at_level(logging.DEBUG, logger=LOGGER_NAME):
        out = await run_pipe(make_pipe(openrouter_sim, API_KEY=key), chat_body("x"), rec)
    assert "authentication failed" in out.text and "Invalid key [redacted]" in out.text
    assert key not in out.text and key not in str(rec.events)
    assert key not in "\n".join(r.getMessage() for r in caplog.records)


async def test_configured_key_of_any_shape_is_redacted(openrouter_sim, caplog):
    """A gateway key with no recognisable shape is still masked: the pipe knows its own key."""
    key = "corp-gateway-" + secrets.token_hex(12)
    openrouter_sim.state.config = SimConfig(api_keys=[key])
    body = {"error": {"code": 502, "message": f"gateway rejected credential {key}"}}
    openrouter_sim.enqueue({"status": 400, "body": body})
    with caplog.at_level(logging.DEBUG, logger=LOGGER_NAME):
        out = await run_pipe(make_pipe(openrouter_sim, API_KEY=key), chat_body("x"))
    assert "gateway rejected credential [redacted]" in out.text and key not in out.text
    assert key not in "\n".join(r.getMessage() for r in caplog.records)


async def test_status_lines_and_citations_carry_no_key_and_are_bounded(openrouter_sim):
    key = openrouter_key()
    openrouter_sim.enqueue(
        script(
            web_search=True,
            web_search_query=f"what is {key}",
            text="See the source.",
            citations=[
                {
                    "url": f"https://example.org/page?token={key}",
                    "title": f"Leaked {key} " + "T" * 5_000,
                    "content": "Z" * 100_000,
                    "start_index": 0,
                    "end_index": 3,
                }
            ],
        )
    )
    rec = Recorder()
    out = await run_pipe(make_pipe(openrouter_sim), chat_body("search"), rec)
    assert out.text == "See the source."
    events = str(rec.events)
    assert key not in events and "Searched the web: what is [redacted]" in rec.statuses()
    source = rec.of_type("source")[0]["data"]
    assert source["source"]["url"] == "https://example.org/page?token=[redacted]"
    assert len(source["source"]["name"]) < 400 and len(source["document"][0]) < 2_100


async def test_tool_error_output_carries_no_key_and_is_bounded(openrouter_sim):
    key = openrouter_key()

    async def fetch(city: str) -> str:
        raise RuntimeError(f"backend refused key {key}: " + "!" * 1_000_000)

    openrouter_sim.enqueue(
        script(function_calls=[call("fetch", {"city": "Oslo"}, "call_1")]),
        script(text="Sorry, that failed."),
    )
    out = await run_pipe(
        make_pipe(openrouter_sim),
        chat_body("x"),
        __tools__=owui_tools(("fetch", fetch, CITY)),
    )
    assert out.text == "Sorry, that failed."
    output = outputs_of(sent(openrouter_sim))["call_1"]
    message = error_of(output)["message"]
    assert key not in output and "backend refused key [redacted]" in message
    assert len(output) < 3_000
