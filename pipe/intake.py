"""The controller's hook for this request's media and OpenRouter features: valves in, a
media-ready body before translation and a feature-complete request after it, plus the
notices the user sees as status lines."""

from __future__ import annotations

from typing import Any

from .features import Applied, FeatureSettings, apply_features
from .fetch import FetchPolicy, SafeFetcher, parse_hosts, parse_networks
from .media import FileStore, Intake, MediaIntake, MediaPolicy
from .model_info import CatalogSnapshot, ModelInfo
from .routing import Routing, split_csv
from .settings import user_overrides
from .wire import InputImage, InputMessage, ResponsesRequest, json_object

MB = 1024 * 1024


def media_policy(valves: Any) -> MediaPolicy:
    return MediaPolicy(
        max_images=valves.IMAGE_MAX_PER_REQUEST,
        max_image_bytes=int(valves.IMAGE_MAX_MB * MB),
        max_file_bytes=int(valves.FILE_MAX_MB * MB),
        max_audio_bytes=int(valves.AUDIO_MAX_MB * MB),
        remote_images=valves.REMOTE_IMAGES,
        native_files=valves.NATIVE_FILE_INPUT,
    )


def fetch_policy(valves: Any) -> FetchPolicy:
    return FetchPolicy(
        max_bytes=int(valves.IMAGE_MAX_MB * MB),
        http_hosts=parse_hosts(valves.FETCH_HTTP_HOSTS),
        allowed_networks=parse_networks(valves.FETCH_ALLOWED_NETWORKS),
        total_timeout=valves.FETCH_TIMEOUT_SECONDS,
        read_timeout=min(10.0, valves.FETCH_TIMEOUT_SECONDS),
        max_retries=valves.FETCH_MAX_RETRIES,
    )


async def take_media(
    body: dict[str, Any],
    files: Any,
    model: ModelInfo | None,
    valves: Any,
    store: FileStore | None,
    user: dict[str, Any],
) -> tuple[dict[str, Any], Intake]:
    intake = MediaIntake(
        media_policy(valves), model, store, SafeFetcher(fetch_policy(valves)), user
    )
    result = await intake.run(body.get("messages"), files)
    return {**body, "messages": result.messages}, result


def feature_settings(valves: Any, user_valves: Any) -> FeatureSettings:
    choices = user_overrides(user_valves) if valves.ALLOW_USER_ROUTING else {}
    routing = Routing.from_valves(valves)
    fallbacks = split_csv(valves.MODEL_FALLBACKS)
    if choices:
        routing = routing.narrowed_by(choices)
        fallbacks = split_csv(choices.get("FALLBACK_MODELS")) or fallbacks
    return FeatureSettings(
        web_search=valves.WEB_SEARCH,
        web_method=valves.WEB_SEARCH_METHOD,
        web_max_results=valves.WEB_SEARCH_MAX_RESULTS,
        web_search_prompt=valves.WEB_SEARCH_PROMPT,
        web_engine=valves.WEB_SEARCH_ENGINE,
        fallbacks=tuple(fallbacks),
        routing=routing,
        middle_out=valves.MIDDLE_OUT,
        prompt_cache=valves.PROMPT_CACHE,
        prompt_cache_ttl=valves.PROMPT_CACHE_TTL,
        reasoning_budget=valves.REASONING_BUDGET_TOKENS,
    )


def _needs(request: ResponsesRequest) -> tuple[str, ...]:
    """Capabilities a fallback model must have to serve this request."""
    needs = ["tools"] if request.tools else []
    for item in request.input:
        if isinstance(item, InputMessage) and isinstance(item.content, list):
            if any(isinstance(p, InputImage) for p in item.content):
                needs.append("vision")
                break
    return tuple(needs)


def add_features(
    request: ResponsesRequest,
    model: ModelInfo | None,
    snapshot: CatalogSnapshot | None,
    valves: Any,
    user_valves: Any,
    metadata: dict[str, Any],
    *,
    task: bool,
) -> Applied:
    features = json_object(metadata.get("features"))
    return apply_features(
        request,
        model,
        snapshot,
        feature_settings(valves, user_valves),
        web_toggled=bool(features.get("web_search")),
        task=task,
        needs=_needs(request),
    )
