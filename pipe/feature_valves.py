"""The valves of the multimodal intake and of OpenRouter's request features (docs/multimodal.md),
as bases of `Pipe.Valves` / `Pipe.UserValves` (which stay nested literally in the controller).

Pydantic lists a base's fields first; `own_fields_first` puts each subclass's own fields (the
connection and API key an administrator sets first) back above its bases' in the schema Open
WebUI renders.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

WebSearchMode = Literal["off", "toggle", "always"]
ProviderSort = Literal["", "price", "throughput", "latency"]


def own_fields_first(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    # Each class's own fields before its bases' (pydantic lists the base-most class first).
    ordered = [
        name
        for klass in cls.__mro__
        if issubclass(klass, BaseModel)
        for name in inspect.get_annotations(klass)
        if name in properties
    ]
    schema["properties"] = {
        **{name: properties[name] for name in dict.fromkeys(ordered)},
        **{k: v for k, v in properties.items() if k not in ordered},
    }


class FeatureValves(BaseModel):
    model_config = ConfigDict(json_schema_extra=own_fields_first)

    IMAGE_MAX_PER_REQUEST: int = Field(
        default=5, ge=1, le=50, description="Most images sent in one request (newest kept)."
    )
    IMAGE_MAX_MB: float = Field(
        default=10.0, gt=0, le=100, description="Largest image sent or downloaded (MB)."
    )
    FILE_MAX_MB: float = Field(
        default=20.0, gt=0, le=200, description="Largest document sent as input_file (MB)."
    )
    AUDIO_MAX_MB: float = Field(
        default=20.0, gt=0, le=200, description="Largest audio clip sent (MB)."
    )
    REMOTE_IMAGES: Literal["pass", "inline"] = Field(
        default="pass",
        description="Remote image URLs: 'pass' them to OpenRouter, or 'inline' (the pipe downloads them safely and sends the bytes).",
    )
    NATIVE_FILE_INPUT: bool = Field(
        default=True,
        description="Send documents (PDF, text) as input_file to models that accept files; otherwise only Open WebUI's retrieval sees them.",
    )
    FETCH_HTTP_HOSTS: str = Field(
        default="",
        description="Comma-separated hosts the pipe may download from over plain http (https only otherwise).",
    )
    FETCH_ALLOWED_NETWORKS: str = Field(
        default="",
        description="Comma-separated CIDRs of internal networks the pipe may download from (refused by default).",
    )
    FETCH_TIMEOUT_SECONDS: float = Field(
        default=30.0, gt=0, le=300, description="Longest single download attempt."
    )
    FETCH_MAX_RETRIES: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Download retries on 408/429/5xx (Retry-After honoured).",
    )
    WEB_SEARCH: WebSearchMode = Field(
        default="toggle",
        description="OpenRouter web search: 'toggle' follows Open WebUI's web-search switch, 'always', or 'off'.",
    )
    WEB_SEARCH_METHOD: Literal["plugin", "online"] = Field(
        default="plugin",
        description="'plugin': the `web` plugin (with the settings below); 'online': the `:online` model variant.",
    )
    WEB_SEARCH_MAX_RESULTS: int = Field(
        default=5, ge=1, le=25, description="Web results per search (plugin method)."
    )
    WEB_SEARCH_PROMPT: str = Field(
        default="",
        description="Prompt that introduces the search results (empty: OpenRouter's).",
    )
    WEB_SEARCH_ENGINE: Literal["auto", "native", "exa"] = Field(
        default="auto", description="Search engine ('auto': OpenRouter chooses)."
    )
    MODEL_FALLBACKS: str = Field(
        default="",
        description="Comma-separated model slugs OpenRouter falls back to, in order, when the chosen model fails (at most 3).",
    )
    ALLOW_USER_ROUTING: bool = Field(
        default=True,
        description="Users may set their own fallbacks and provider choices, within the limits below.",
    )
    PROVIDER_ORDER: str = Field(
        default="", description="Comma-separated providers to try first, in order."
    )
    PROVIDER_ONLY: str = Field(
        default="",
        description="Comma-separated providers allowed (empty: all). Users cannot widen it.",
    )
    PROVIDER_IGNORE: str = Field(
        default="", description="Comma-separated providers never used. Users cannot shrink it."
    )
    PROVIDER_ALLOW_FALLBACKS: bool = Field(
        default=True,
        description="Let OpenRouter use other providers when the preferred ones fail.",
    )
    PROVIDER_DATA_COLLECTION: Literal["allow", "deny"] = Field(
        default="allow",
        description="'deny': only providers that do not store or train on prompts.",
    )
    PROVIDER_ZDR: bool = Field(default=False, description="Only zero-data-retention endpoints.")
    PROVIDER_SORT: ProviderSort = Field(
        default="",
        description="Sort providers by price, throughput or latency (empty: OpenRouter's balancing).",
    )
    PROVIDER_MAX_PROMPT_PRICE: float = Field(
        default=0.0,
        ge=0,
        description="Highest prompt price accepted, USD per million tokens (0: no cap).",
    )
    PROVIDER_MAX_COMPLETION_PRICE: float = Field(
        default=0.0,
        ge=0,
        description="Highest completion price accepted, USD per million tokens (0: no cap).",
    )
    MIDDLE_OUT: bool = Field(
        default=False,
        description="Let OpenRouter compress an over-long conversation from the middle (context-compression, middle-out) instead of failing.",
    )
    PROMPT_CACHE: bool = Field(
        default=True,
        description="Add prompt-cache breakpoints for models that need explicit ones (Anthropic).",
    )
    PROMPT_CACHE_TTL: Literal["5m", "1h"] = Field(
        default="5m", description="Lifetime of those cache entries."
    )
    REASONING_BUDGET_TOKENS: int = Field(
        default=0,
        ge=0,
        le=128_000,
        description="Thinking budget for models that take reasoning max_tokens instead of an effort (0: derived from the effort).",
    )
    PUBLISH_MODEL_METADATA: bool = Field(
        default=False,
        description="Write each model's capabilities, description and icon into Open WebUI's model records (never over an admin's edits).",
    )


class FeatureUserValves(BaseModel):
    model_config = ConfigDict(json_schema_extra=own_fields_first)

    REASONING_BUDGET_TOKENS: int | None = Field(
        default=None,
        ge=0,
        le=128_000,
        description="Your thinking budget for budget-based models (empty: default).",
    )
    WEB_SEARCH_MAX_RESULTS: int | None = Field(
        default=None, ge=1, le=25, description="Your web results per search (empty: default)."
    )
    FALLBACK_MODELS: str | None = Field(
        default=None,
        description="Your fallback models, comma-separated (empty: the administrator's).",
    )
    PREFERRED_PROVIDERS: str | None = Field(
        default=None,
        description="Providers to try first, comma-separated (within the allowed ones).",
    )
    EXCLUDED_PROVIDERS: str | None = Field(
        default=None, description="Providers you never want, comma-separated."
    )
    PROVIDER_SORT_PREFERENCE: ProviderSort | None = Field(
        default=None, description="Sort providers by price, throughput or latency."
    )
    REQUIRE_ZERO_DATA_RETENTION: bool | None = Field(
        default=None, description="Only zero-data-retention endpoints for your requests."
    )
    DENY_DATA_COLLECTION: bool | None = Field(
        default=None, description="Only providers that do not store or train on prompts."
    )
    MAX_PROMPT_PRICE: float | None = Field(
        default=None,
        ge=0,
        description="Your prompt price cap, USD per million tokens (lower than the administrator's only).",
    )
    MAX_COMPLETION_PRICE: float | None = Field(
        default=None, ge=0, description="Your completion price cap, USD per million tokens."
    )
