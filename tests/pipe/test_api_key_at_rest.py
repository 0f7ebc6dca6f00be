"""The API_KEY valve at rest: sealed with AES-GCM under WEBUI_SECRET_KEY, shown sealed,
opened only when a request uses it, and a key that cannot be opened fails fast and clearly."""

from __future__ import annotations

import logging
import secrets

import pytest

from pipe import Pipe
from pipe.logs import LOGGER_NAME
from pipe.secret_valve import SEALED_PREFIX, SealError, seal, unseal
from tests.pipe.helpers import chat_body, make_pipe, run_pipe

SECRET = "owui-secret-" + "a" * 32


@pytest.fixture
def webui_secret(monkeypatch):
    monkeypatch.setenv("WEBUI_SECRET_KEY", SECRET)
    return SECRET


def test_seal_round_trip_hides_the_key_and_is_randomised():
    key = "sk-or-v1-" + secrets.token_hex(32)
    first, second = seal(key, SECRET), seal(key, SECRET)
    assert first.startswith(SEALED_PREFIX) and key not in first and key[9:25] not in first
    assert first != second  # a fresh nonce each time
    assert unseal(first, SECRET) == key == unseal(second, SECRET)
    assert seal(first, SECRET) == first  # sealing twice changes nothing


def test_plain_values_pass_through_and_nothing_is_sealed_without_a_secret():
    assert unseal("sk-or-v1-plain", SECRET) == "sk-or-v1-plain"
    assert seal("sk-or-v1-plain", "") == "sk-or-v1-plain"
    assert seal("", SECRET) == ""


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: seal("sk-or-v1-x" * 3, "another-secret"),  # secret rotated
        lambda v: v[:-4] + ("AAAA" if not v.endswith("AAAA") else "BBBB"),  # edited
        lambda v: SEALED_PREFIX + "not base64!!",
        lambda v: SEALED_PREFIX,
    ],
)
def test_unopenable_values_raise_an_operator_readable_error(tamper):
    sealed = tamper(seal("sk-or-v1-" + secrets.token_hex(32), SECRET))
    with pytest.raises(SealError, match="WEBUI_SECRET_KEY"):
        unseal(sealed, SECRET)


def test_sealed_value_without_any_secret_says_so():
    with pytest.raises(SealError, match="WEBUI_SECRET_KEY is not set"):
        unseal(seal("sk-or-v1-abc", SECRET), "")


def test_valves_store_the_key_sealed_and_resave_it_unchanged(webui_secret):
    key = "sk-or-v1-" + secrets.token_hex(32)
    stored = Pipe.Valves(API_KEY=key).model_dump(exclude_unset=True)  # what Open WebUI saves
    assert stored["API_KEY"].startswith(SEALED_PREFIX) and key not in str(stored)
    resaved = Pipe.Valves(**stored).model_dump(exclude_unset=True)  # the form saved as shown
    assert resaved["API_KEY"] == stored["API_KEY"]
    assert unseal(resaved["API_KEY"]) == key


def test_the_valve_form_masks_the_key():
    prop = Pipe.Valves.model_json_schema()["properties"]["API_KEY"]
    assert prop["input"] == {"type": "password"}


async def test_sealed_key_is_opened_for_the_request_and_works(openrouter_sim, webui_secret):
    pipe = make_pipe(openrouter_sim)
    assert pipe.valves.API_KEY.startswith(SEALED_PREFIX)
    openrouter_sim.enqueue({"script": {"text": "hello"}})
    out = await run_pipe(pipe, chat_body("x"))
    assert out.text == "hello"  # the fake OpenRouter refuses anything but an `sk-or-` key
    assert [m["id"] for m in await pipe.pipes()]


async def test_plain_stored_key_keeps_working(openrouter_sim, webui_secret):
    pipe = make_pipe(openrouter_sim)
    pipe.valves = Pipe.Valves.model_construct(  # a value stored before sealing existed
        **{**pipe.valves.model_dump(), "API_KEY": openrouter_sim.api_key}
    )
    openrouter_sim.enqueue({"script": {"text": "still fine"}})
    assert (await run_pipe(pipe, chat_body("x"))).text == "still fine"


async def test_key_sealed_under_another_secret_fails_fast(openrouter_sim, webui_secret, caplog):
    pipe = make_pipe(openrouter_sim)
    pipe.valves.API_KEY = seal(openrouter_sim.api_key, "the-secret-before-rotation")
    with caplog.at_level(logging.ERROR, logger=LOGGER_NAME):
        out = await run_pipe(pipe, chat_body("x"))
        models = await pipe.pipes()
    assert "The pipe is not configured" in out.text
    assert "different WEBUI_SECRET_KEY" in out.text and "Enter the OpenRouter API key" in out.text
    assert models == []
    assert openrouter_sim.journal() == []  # nothing, not even the ciphertext, went upstream
    assert any("cannot be decrypted" in r.getMessage() for r in caplog.records)


async def test_task_with_an_unopenable_key_returns_empty_without_calling_upstream(
    openrouter_sim, webui_secret
):
    pipe = make_pipe(openrouter_sim)
    pipe.valves.API_KEY = seal(openrouter_sim.api_key, "old")
    out = await run_pipe(pipe, chat_body("x", stream=False), __task__="title_generation")
    assert out.chunks == [""] and openrouter_sim.journal() == []
