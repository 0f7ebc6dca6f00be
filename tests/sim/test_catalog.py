"""The models catalog routes (`/models`, `/models/count`, `/model/{author}/{slug}`,
endpoints) and the fixture behind them."""

from __future__ import annotations

import httpx
import pytest

from simulator.openrouter.catalog import Catalog

REQUIRED = (
    "id", "canonical_slug", "name", "created", "pricing", "context_length", "architecture",
    "top_provider", "per_request_limits", "supported_parameters", "default_parameters",
    "supported_voices", "links",
)  # fmt: skip


def get(sim, path, **params):
    return httpx.get(sim.base_url + path, params=params, timeout=10)


def test_fixture_is_realistic():
    models = Catalog.load().models
    assert len(models) >= 25
    ids = {m["id"] for m in models}
    for m in models:
        assert all(k in m for k in REQUIRED), m["id"]
        assert isinstance(m["pricing"]["prompt"], str)
    assert {"openai/gpt-4o", "openai/gpt-4o-2024-11-20", "anthropic/claude-sonnet-4"} <= ids
    assert any(m["id"].endswith(":free") and m["pricing"]["prompt"] == "0" for m in models)
    assert any("reasoning" in m for m in models) and any("reasoning" not in m for m in models)
    assert any("tools" not in m["supported_parameters"] for m in models)
    inputs = {i for m in models for i in m["architecture"]["input_modalities"]}
    assert {"image", "audio", "file"} <= inputs
    assert any(m["pricing"]["web_search"] != "0" for m in models)
    sonnet = next(m for m in models if m["id"] == "anthropic/claude-sonnet-4")
    assert sonnet["canonical_slug"] == "anthropic/claude-4-sonnet-20250522"


def test_models_list_default_is_text_output(openrouter_sim):
    body = get(openrouter_sim, "/models").json()
    assert body["links"] == {"next": None}
    assert body["total_count"] == len(body["data"])
    assert all("text" in m["architecture"]["output_modalities"] for m in body["data"])
    everything = get(openrouter_sim, "/models", output_modalities="all").json()
    assert everything["total_count"] >= body["total_count"]


def test_models_filters(openrouter_sim):
    tools = get(openrouter_sim, "/models", supported_parameters="tools,reasoning").json()["data"]
    assert tools and all({"tools", "reasoning"} <= set(m["supported_parameters"]) for m in tools)
    images = get(openrouter_sim, "/models", output_modalities="image").json()["data"]
    assert [m["id"] for m in images] == ["google/gemini-2.5-flash-image"]
    audio_in = get(openrouter_sim, "/models", input_modalities="audio").json()["data"]
    assert audio_in and all("audio" in m["architecture"]["input_modalities"] for m in audio_in)
    q = get(openrouter_sim, "/models", q="sonnet").json()["data"]
    assert q and all("sonnet" in m["id"] for m in q)
    by_author = get(openrouter_sim, "/models", model_authors="anthropic").json()["data"]
    assert by_author and all("anthropic/" in m["id"] for m in by_author)
    cheap = get(openrouter_sim, "/models", sort="pricing-low-to-high").json()["data"]
    prices = [float(m["pricing"]["prompt"]) for m in cheap]
    assert prices == sorted(prices)


def test_models_pagination(openrouter_sim):
    page = get(openrouter_sim, "/models", limit=5).json()
    assert len(page["data"]) == 5 and page["links"]["next"]
    nxt = httpx.get(page["links"]["next"]).json()
    assert nxt["data"][0]["id"] != page["data"][0]["id"]
    assert get(openrouter_sim, "/models", limit="x").status_code == 400


def test_models_count(openrouter_sim):
    total = get(openrouter_sim, "/models").json()["total_count"]
    assert get(openrouter_sim, "/models/count").json() == {"data": {"count": total}}


def test_single_model_and_endpoints(openrouter_sim):
    one = get(openrouter_sim, "/model/openai/gpt-4o").json()["data"]
    assert one["id"] == "openai/gpt-4o"
    variant = get(openrouter_sim, "/model/openai/gpt-4o:nitro").json()["data"]
    assert variant["id"] == "openai/gpt-4o"
    ep = get(openrouter_sim, "/models/anthropic/claude-sonnet-4/endpoints").json()["data"]
    assert ep["id"] == "anthropic/claude-sonnet-4"
    endpoint = ep["endpoints"][0]
    assert endpoint["provider_name"] == "Anthropic" and endpoint["tag"] == "anthropic"
    assert endpoint["latency_last_30m"] is None  # unauthenticated


@pytest.mark.parametrize("path", ["/model/nope/none", "/models/nope/none/endpoints"])
def test_unknown_model_routes_404(openrouter_sim, path):
    r = get(openrouter_sim, path)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == 404 and "nope/none" in r.json()["error"]["message"]


def test_catalog_requests_are_journaled(openrouter_sim):
    get(openrouter_sim, "/models", supported_parameters="tools")
    entry = openrouter_sim.journal()[-1]
    assert entry["method"] == "GET" and entry["query"] == "supported_parameters=tools"
