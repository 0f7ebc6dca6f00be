"""Per-request logging context and secret redaction."""

from __future__ import annotations

import logging
import sys

from pipe.logs import LOGGER_NAME, RequestContext, get_logger, request_scope
from pipe.redaction import redact
from tests.pipe.helpers import chat_body, make_pipe, run_pipe


def test_redact_masks_keys_and_bearer_tokens():
    text = redact(
        "Authorization: Bearer sk-or-v1-abcdef123456 api_key=supersecretvalue sk-or-v1-zzz"
    )
    assert "abcdef" not in text and "supersecretvalue" not in text and "zzz" not in text


def test_records_carry_request_context(caplog):
    logger = get_logger()
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        with request_scope(
            RequestContext(request_id="r123", user_id="u9", chat_id="c7", session_id="s1")
        ):
            logger.info("inside with key sk-or-v1-secret")
        logger.info("outside")
    inside = next(r for r in caplog.records if "inside with key" in r.getMessage())
    outside = next(r for r in caplog.records if r.getMessage() == "outside")
    assert inside.request_id == "r123" and inside.user_id == "u9" and inside.chat_id == "c7"
    assert "[req=r123 user=u9 chat=c7 msg=- session=s1]" in inside.getMessage()
    assert "secret" not in inside.getMessage()
    assert outside.request_id == "-"


async def test_error_logs_have_error_id_and_no_key(openrouter_sim, caplog):
    openrouter_sim.enqueue({"status": 401})
    with caplog.at_level(logging.DEBUG, logger=LOGGER_NAME):
        out = await run_pipe(make_pipe(openrouter_sim), chat_body("x"))
    error_id = out.text.split("Error ID: `")[1][:16]
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert error_id in messages
    assert "user=user-1 chat=chat-1 msg=msg-1 session=sess-1" in messages
    assert openrouter_sim.api_key not in messages
    assert openrouter_sim.api_key not in out.text


def test_reloaded_module_replaces_the_old_filter(caplog):
    """Open WebUI re-executes the function file on every change; one filter must remain."""
    import importlib
    import types

    import pipe.logs as logs_module

    get_logger()
    exported_source = getattr(logs_module, "__orsim_exported_source__", None)
    if exported_source:  # the exported file: re-exec it into a fresh module, as Open WebUI does
        reloaded = types.ModuleType("function_openrouter_reloaded")
        sys.modules[reloaded.__name__] = reloaded
        exec(compile(exported_source, "<exported function>", "exec"), reloaded.__dict__)
    else:
        reloaded = importlib.reload(logs_module)
    logger = reloaded.get_logger()
    ours = [f for f in logger.filters if getattr(f, "openrouter_pipe_filter", False)]
    assert len(ours) == 1 and type(ours[0]) is reloaded.RequestContextFilter
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        with reloaded.request_scope(reloaded.RequestContext(request_id="after-reload")):
            logger.info("reloaded")
    record = next(r for r in caplog.records if "reloaded" in r.getMessage())
    assert record.request_id == "after-reload"
