"""The API_KEY valve in the real Open WebUI 0.12.4: what its database holds, what the admin
form is served, that a re-saved form keeps working, that a key stored in plain text keeps
working until the next save seals it, and that a key sealed under another WEBUI_SECRET_KEY
fails fast with a message the operator can act on."""

from __future__ import annotations

import json
import sqlite3

import pytest

from pipe.secret_valve import SEALED_PREFIX, seal

pytestmark = pytest.mark.openwebui

ASK = [{"role": "user", "content": "hello"}]
SUB_MODEL = ".openai.gpt-4o-mini"


def _stored_valves(owui, function_id: str) -> dict:
    with sqlite3.connect(owui.data_dir / "webui.db") as db:
        (raw,) = db.execute("SELECT valves FROM function WHERE id = ?", (function_id,)).fetchone()
    return json.loads(raw) if isinstance(raw, str) else raw


def _store_raw_valves(owui, function_id: str, valves: dict) -> None:
    with sqlite3.connect(owui.data_dir / "webui.db") as db:
        db.execute("UPDATE function SET valves = ? WHERE id = ?", (json.dumps(valves), function_id))


async def _says(owui, fid: str, sim, text: str) -> str:
    sim.enqueue({"script": {"text": text}})
    reply = await owui.chat(fid + SUB_MODEL, ASK, stream=True)
    assert reply.status == 200
    return reply.text


async def test_api_key_is_sealed_in_the_database_and_the_form(owui, owui_function, exported, sim):
    fid = owui_function(exported, valves={"BASE_URL": sim.base_url, "API_KEY": sim.api_key})
    stored = _stored_valves(owui, fid)
    assert stored["API_KEY"].startswith(SEALED_PREFIX)
    assert sim.api_key not in json.dumps(stored)
    shown = owui.request("GET", f"/api/v1/functions/id/{fid}/valves")
    assert shown["API_KEY"] == stored["API_KEY"]  # the admin form never gets the plain key
    spec = owui.request("GET", f"/api/v1/functions/id/{fid}/valves/spec")
    assert spec["properties"]["API_KEY"]["input"] == {"type": "password"}
    assert await _says(owui, fid, sim, "sealed and working") == "sealed and working"

    owui.set_valves(fid, shown)  # the operator saves the form unchanged
    assert _stored_valves(owui, fid)["API_KEY"] == stored["API_KEY"]
    assert await _says(owui, fid, sim, "still working") == "still working"


async def test_plain_stored_key_works_and_the_next_save_seals_it(
    owui, owui_function, exported, sim
):
    fid = owui_function(exported, valves={"BASE_URL": sim.base_url})
    _store_raw_valves(owui, fid, {"BASE_URL": sim.base_url, "API_KEY": sim.api_key})
    assert await _says(owui, fid, sim, "plain works") == "plain works"
    owui.set_valves(fid, owui.request("GET", f"/api/v1/functions/id/{fid}/valves"))
    assert _stored_valves(owui, fid)["API_KEY"].startswith(SEALED_PREFIX)
    assert await _says(owui, fid, sim, "now sealed") == "now sealed"


async def test_key_sealed_under_another_secret_fails_fast(owui, owui_function, exported, sim):
    fid = owui_function(exported, valves={"BASE_URL": sim.base_url, "API_KEY": sim.api_key})
    stale = seal(sim.api_key, "the-webui-secret-before-rotation")
    owui.set_valves(fid, {"BASE_URL": sim.base_url, "API_KEY": stale})
    before = len(sim.journal())
    reply = await owui.chat(fid + SUB_MODEL, ASK, stream=True)  # the model is still listed
    assert reply.status == 200
    assert "The pipe is not configured" in reply.text
    assert "different WEBUI_SECRET_KEY" in reply.text
    assert len(sim.journal()) == before  # nothing went upstream, not even the ciphertext
    assert "cannot be decrypted" in owui.log_tail(400)
