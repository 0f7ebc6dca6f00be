"""The models catalog served by the fake, from `fixtures/models.json`."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).parent / "fixtures" / "models.json"

PROVIDER_BY_AUTHOR = {
    "openai": ("OpenAI", "openai"),
    "anthropic": ("Anthropic", "anthropic"),
    "google": ("Google Vertex", "google-vertex"),
    "deepseek": ("DeepInfra", "deepinfra"),
    "meta-llama": ("Together", "together"),
    "mistralai": ("Mistral", "mistral"),
    "qwen": ("Alibaba", "alibaba"),
    "x-ai": ("xAI", "xai"),
    "perplexity": ("Perplexity", "perplexity"),
    "cohere": ("Cohere", "cohere"),
}


# Variant suffixes OpenRouter accepts on a slug (`openai/gpt-4o:nitro`); any other is unknown.
VARIANT_SUFFIXES = frozenset({"online", "nitro", "floor", "free", "thinking", "extended", "exacto"})


class Catalog:
    """An in-memory list of `Model` dicts with the lookups and filters the routes need."""

    def __init__(self, models: list[dict[str, Any]]) -> None:
        self.models = models
        self._by_id = {m["id"]: m for m in models}
        for m in models:  # canonical (dated) slugs also resolve
            self._by_id.setdefault(m["canonical_slug"], m)

    @classmethod
    def load(cls, path: Path | str | None = None) -> Catalog:
        return cls(copy.deepcopy(_read(str(path or FIXTURE))))

    def resolve(self, slug: str) -> dict[str, Any] | None:
        """Find a model by id, canonical slug, or id with a known variant suffix (`:nitro`)."""
        if slug in self._by_id:
            return self._by_id[slug]
        base, _, suffix = slug.partition(":")
        if suffix not in VARIANT_SUFFIXES:
            return None
        return self._by_id.get(base)

    def filter(self, query: dict[str, str]) -> list[dict[str, Any]]:
        """Apply the query filters OpenRouter documents (a useful subset): `output_modalities`
        (default `text`; `all`), `input_modalities`, `supported_parameters` (all must match),
        `q` (substring of id or name), `model_authors`, and `sort`."""
        out = list(self.models)
        wanted_out = query.get("output_modalities", "text")
        if wanted_out != "all":
            mods = _csv(wanted_out)
            out = [m for m in out if mods & set(m["architecture"]["output_modalities"])]
        if "input_modalities" in query:
            mods = _csv(query["input_modalities"])
            out = [m for m in out if mods <= set(m["architecture"]["input_modalities"])]
        if "supported_parameters" in query:
            params = _csv(query["supported_parameters"])
            out = [m for m in out if params <= set(m["supported_parameters"])]
        if q := query.get("q", "").lower():
            out = [m for m in out if q in m["id"].lower() or q in m["name"].lower()]
        if "model_authors" in query:
            authors = _csv(query["model_authors"])
            out = [m for m in out if m["id"].lstrip("~").split("/")[0] in authors]
        sort = query.get("sort")
        if sort == "pricing-low-to-high":
            out.sort(key=lambda m: float(m["pricing"]["prompt"]))
        elif sort == "pricing-high-to-low":
            out.sort(key=lambda m: -float(m["pricing"]["prompt"]))
        elif sort == "context-high-to-low":
            out.sort(key=lambda m: -(m["context_length"] or 0))
        elif sort == "newest":
            out.sort(key=lambda m: -m["created"])
        return out

    def endpoints(self, model: dict[str, Any]) -> dict[str, Any]:
        """`GET /models/{author}/{slug}/endpoints`: one provider endpoint per model."""
        author = model["id"].lstrip("~").split("/")[0]
        provider, tag = PROVIDER_BY_AUTHOR.get(author, ("SimProvider", "sim"))
        top = model["top_provider"]
        tools = "tools" in model["supported_parameters"]
        endpoint = {
            "name": f"{provider} | {model['canonical_slug']}",
            "model_id": model["id"],
            "model_name": model["name"],
            "context_length": model["context_length"],
            "pricing": model["pricing"],
            "provider_name": provider,
            "tag": tag,
            "quantization": None if author in ("openai", "anthropic", "google") else "fp8",
            "max_completion_tokens": top["max_completion_tokens"],
            "max_prompt_tokens": None,
            "supported_parameters": model["supported_parameters"],
            "status": 0,
            "uptime_last_30m": 99.9,
            "uptime_last_5m": 100.0,
            "uptime_last_1d": 99.7,
            "supports_implicit_caching": "input_cache_read" in model["pricing"],
            "latency_last_30m": None,
            "throughput_last_30m": None,
            # Newer required fields (official `openrouter` SDK 1.3 validates them).
            "native_tools": {},
            "service_tier": None,
            "supports_diarization": False,
            "supports_tool_choice": {
                "auto": tools,
                "function": tools,
                "none": tools,
                "required": tools,
            },
        }
        return {
            "data": {
                "id": model["id"],
                "name": model["name"],
                "created": model["created"],
                "description": model["description"],
                "architecture": model["architecture"],
                "endpoints": [endpoint],
            }
        }


def _csv(value: str) -> set[str]:
    return {v.strip() for v in value.split(",") if v.strip()}


@cache
def _read(path: str) -> list[dict[str, Any]]:
    return json.loads(Path(path).read_text())["data"]
