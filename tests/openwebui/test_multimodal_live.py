"""Multimodal and model metadata in the real Open WebUI 0.12.4: an image uploaded through its
files API reaches the (fake) OpenRouter as a data URL; a PDF attached to the chat reaches it as
an `input_file` read from Open WebUI's storage by the pipe's adapter; the metadata sync makes
GET /api/models show each model's capabilities."""

from __future__ import annotations

import httpx
import pytest

from simulator.internet import RED_PNG, TINY_PDF

pytestmark = pytest.mark.openwebui

VISION = ".openai.gpt-4o-mini"
TEXT_ONLY = ".meta-llama.llama-3.3-70b-instruct"


def _upload(owui, name: str, data: bytes, content_type: str) -> str:
    resp = httpx.post(
        owui.base_url + "/api/v1/files/",
        headers=owui.headers,
        files={"file": (name, data, content_type)},
        params={"process": "false"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["id"]


def _parts(request: dict, kind: str) -> list[dict]:
    return [
        part
        for item in request["body"]["input"]
        if item.get("role") == "user" and isinstance(item.get("content"), list)
        for part in item["content"]
        if part.get("type") == kind
    ]


async def test_uploaded_image_reaches_openrouter_as_a_data_url(owui, owui_function, exported, sim):
    fid = owui_function(exported, valves={"BASE_URL": sim.base_url, "API_KEY": sim.api_key})
    file_id = _upload(owui, "red.png", RED_PNG, "image/png")
    sim.enqueue({"script": {"seed": "vision", "text": "It is red."}})
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What colour is this?"},
                {"type": "image_url", "image_url": {"url": f"/api/v1/files/{file_id}/content"}},
            ],
        }
    ]
    reply = await owui.chat(fid + VISION, messages, stream=True)
    assert reply.status == 200, reply.raw[:500]
    images = _parts(sim.requests_to("/responses")[-1], "input_image")
    assert len(images) == 1
    assert images[0]["image_url"].startswith("data:image/png;base64,iVBORw0KGgo")


async def test_attached_pdf_is_read_from_open_webui_storage(owui, owui_function, exported, sim):
    fid = owui_function(exported, valves={"BASE_URL": sim.base_url, "API_KEY": sim.api_key})
    file_id = _upload(owui, "report.pdf", TINY_PDF, "application/pdf")
    sim.enqueue({"script": {"seed": "pdf", "text": "A one-page report."}})
    reply = await owui.chat(
        fid + VISION,
        [{"role": "user", "content": "Summarise the report."}],
        stream=True,
        files=[{"type": "file", "id": file_id, "name": "report.pdf"}],
    )
    assert reply.status == 200, reply.raw[:500]
    files = _parts(sim.requests_to("/responses")[-1], "input_file")
    assert [f["filename"] for f in files] == ["report.pdf"]
    assert files[0]["file_data"].startswith("data:application/pdf;base64,JVBERi0")


async def test_metadata_sync_shows_capabilities_in_api_models(owui, owui_function, exported, sim):
    valves = {"BASE_URL": sim.base_url, "API_KEY": sim.api_key, "PUBLISH_MODEL_METADATA": True}
    fid = owui_function(exported, valves=valves)
    owui.models()  # the listing runs pipes(), which publishes the catalog once
    by_id = {m["id"]: m for m in owui.models()}
    vision = by_id[fid + VISION]["info"]["meta"]
    text_only = by_id[fid + TEXT_ONLY]["info"]["meta"]
    assert vision["capabilities"]["vision"] is True
    assert text_only["capabilities"]["vision"] is False
    assert vision["description"]
    stored = owui.request("GET", f"/api/v1/models/model?id={fid}{VISION}")
    assert stored["meta"]["profile_image_url"].startswith("data:image/png")  # the icon
    # an administrator's edit survives a sync by a fresh pipe instance (new function source)
    record = owui.request("GET", f"/api/v1/models/model?id={fid}{TEXT_ONLY}")
    record["meta"]["description"] = "Edited by the admin"
    owui.request("POST", f"/api/v1/models/model/update?id={fid}{TEXT_ONLY}", record)
    edited = exported.parent / "edited_pipe.py"
    edited.write_text(exported.read_text() + "\n# a new revision\n")
    owui.update_function(fid, edited)
    models = {m["id"]: m for m in owui.models()}
    assert models[fid + TEXT_ONLY]["info"]["meta"]["description"] == "Edited by the admin"
    assert models[fid + TEXT_ONLY]["info"]["meta"]["capabilities"]["vision"] is False
