"""The other secret valves at rest: the artifact keys, and Redis / database URLs holding a
password, are stored sealed under WEBUI_SECRET_KEY (never next to the rows they protect in the
clear), opened only where they are used, and never copied into a session log."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis

from pipe import Pipe
from pipe.logs import LOGGER_NAME
from pipe.secret_valve import SEALED_PREFIX, SealError, has_password, seal, unseal
from pipe.storage.database import Database, choose_target
from pipe.storage.vault import ArtifactVault
from simulator.services.redis_server import RedisServer
from tests.pipe.helpers import Recorder, chat_body, make_pipe, run_pipe
from tests.pipe.tool_helpers import script

SECRET = "owui-secret-" + "b" * 32
ARTIFACT_KEY = "artifact-key-" + "c" * 20
OLD_KEY = "old-artifact-key-" + "d" * 20
REDIS_PASSWORD = "redis-pass-" + "e" * 16
DB_PASSWORD = "db-pass-" + "f" * 16


@pytest.fixture
def webui_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("WEBUI_SECRET_KEY", SECRET)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    return SECRET


def test_keys_and_password_urls_are_stored_sealed_and_stay_stable(webui_secret):
    valves = Pipe.Valves(
        ARTIFACT_ENCRYPTION_KEY=ARTIFACT_KEY,
        ARTIFACT_PREVIOUS_KEYS=OLD_KEY,
        REDIS_URL=f"redis://:{REDIS_PASSWORD}@redis.internal:6379/0",
        ARTIFACT_DATABASE_URL=f"postgresql://pipe:{DB_PASSWORD}@db.internal/owui",
    )
    stored = valves.model_dump()
    text = repr(stored)
    for secret in (ARTIFACT_KEY, OLD_KEY, REDIS_PASSWORD, DB_PASSWORD):
        assert secret not in text
    typed = {
        "ARTIFACT_ENCRYPTION_KEY": ARTIFACT_KEY,
        "ARTIFACT_PREVIOUS_KEYS": OLD_KEY,
        "REDIS_URL": f"redis://:{REDIS_PASSWORD}@redis.internal:6379/0",
        "ARTIFACT_DATABASE_URL": f"postgresql://pipe:{DB_PASSWORD}@db.internal/owui",
    }
    for name, value in typed.items():
        assert stored[name].startswith(SEALED_PREFIX)
        assert unseal(stored[name], name=name) == value
    assert Pipe.Valves(**stored).model_dump() == stored  # saving the form again changes nothing


def test_urls_without_a_password_stay_readable(webui_secret):
    valves = Pipe.Valves(
        REDIS_URL="redis://redis.internal:6379/0",
        ARTIFACT_DATABASE_URL="postgresql://pipe@db.internal/owui",
    )
    assert valves.REDIS_URL == "redis://redis.internal:6379/0"
    assert valves.ARTIFACT_DATABASE_URL == "postgresql://pipe@db.internal/owui"
    assert has_password("postgresql://db.internal/owui?password=x")
    assert not has_password("sqlite:////data/x.db")


def test_a_sealed_value_pasted_into_another_valve_does_not_open():
    sealed = seal(ARTIFACT_KEY, SECRET, name="ARTIFACT_ENCRYPTION_KEY")
    assert unseal(sealed, SECRET, name="ARTIFACT_ENCRYPTION_KEY") == ARTIFACT_KEY
    with pytest.raises(SealError, match="REDIS_URL valve cannot be decrypted"):
        unseal(sealed, SECRET, name="REDIS_URL")


def _turn(sim: Any, pipe: Pipe, messages: list[dict[str, Any]]) -> Any:
    sim.enqueue(script(reasoning="think", encrypted_reasoning=True, text="Answer."))
    return run_pipe(pipe, chat_body(messages=messages), Recorder())


async def test_rows_are_sealed_with_the_plain_key_the_valve_holds(
    openrouter_sim, webui_secret, tmp_path
):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    pipe = make_pipe(
        openrouter_sim, ARTIFACT_DATABASE_URL=url, ARTIFACT_ENCRYPTION_KEY=ARTIFACT_KEY
    )
    assert pipe.valves.ARTIFACT_ENCRYPTION_KEY.startswith(SEALED_PREFIX)
    out = await _turn(openrouter_sim, pipe, [{"role": "user", "content": "Hi"}])
    assert len(out.markers) == 1
    # An operator's tools (`orsim store reencrypt --key ...`) open them with the typed key.
    db = Database(choose_target(url))
    try:
        loaded = await ArtifactVault(db, ARTIFACT_KEY, []).load("user-1", out.markers)
    finally:
        await db.dispose()
    assert list(loaded.artifacts) == out.markers


async def test_a_key_valve_that_cannot_be_opened_costs_the_history_not_the_answer(
    openrouter_sim, webui_secret, tmp_path, monkeypatch, caplog
):
    pipe = make_pipe(
        openrouter_sim,
        ARTIFACT_DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}",
        ARTIFACT_ENCRYPTION_KEY=ARTIFACT_KEY,
    )
    monkeypatch.setenv("WEBUI_SECRET_KEY", "another-install-" + "z" * 20)
    # The administrator typed the API key again after the change, not the artifact key.
    pipe.valves = Pipe.Valves(**{**pipe.valves.model_dump(), "API_KEY": openrouter_sim.api_key})
    caplog.set_level(logging.ERROR, logger=LOGGER_NAME)
    openrouter_sim.enqueue(script(reasoning="think", encrypted_reasoning=True, text="Answer."))
    rec = Recorder()
    out = await run_pipe(pipe, chat_body("Hi"), rec)
    assert out.raw_text == "Answer." and out.markers == []
    assert any(
        "History not saved: a history setting cannot be decrypted" in s for s in rec.statuses()
    )
    assert any(
        "ARTIFACT_DATABASE_URL" in r.getMessage() or "ARTIFACT_ENCRYPTION_KEY" in r.getMessage()
        for r in caplog.records
    )
    assert ARTIFACT_KEY not in caplog.text


async def test_a_sealed_redis_url_with_a_password_connects(openrouter_sim, webui_secret, tmp_path):
    server = RedisServer(tmp_path / "redis", password=REDIS_PASSWORD)
    (tmp_path / "redis").mkdir()
    server.start()
    try:
        pipe = make_pipe(openrouter_sim, REDIS_URL=server.url)
        assert pipe.valves.REDIS_URL.startswith(SEALED_PREFIX)
        openrouter_sim.enqueue(script(text="Answer."))
        out = await run_pipe(pipe, chat_body("Hi"), Recorder())
        assert out.raw_text == "Answer."
        client = redis.Redis.from_url(server.url)
        try:
            names = [c.get("name", "") for c in client.client_list()]
        finally:
            client.close()
        assert any(n.startswith("openrouter-pipe:") for n in names), names
    finally:
        server.stop()
