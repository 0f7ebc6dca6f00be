"""OpenRouter's own request features, applied to a translated request: web search (the `web`
plugin or the `:online` variant), model fallbacks, provider routing, middle-out context
compression, explicit prompt-cache breakpoints and reasoning token budgets. Each is gated on
what the model supports per the catalog; what was wanted but cannot apply becomes a notice."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model_info import CatalogSnapshot, ModelInfo
from .routing import Routing, fallback_models
from .wire import CacheControl, InputMessage, InputText, ReasoningConfig, ResponsesRequest

# Thinking budgets for models that take `reasoning.max_tokens` instead of an effort.
EFFORT_BUDGETS = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 32000,
}
MIN_BUDGET = 1024  # Anthropic's floor for extended thinking
CACHE_BREAKPOINTS = 4  # Anthropic allows at most four per request
EXPLICIT_CACHE_VENDORS = ("anthropic/", "~anthropic/")


@dataclass(frozen=True)
class FeatureSettings:
    web_search: str = "toggle"  # off | toggle (Open WebUI's switch) | always
    web_method: str = "plugin"  # plugin | online
    web_max_results: int = 5
    web_search_prompt: str = ""
    web_engine: str = "auto"
    fallbacks: tuple[str, ...] = ()
    routing: Routing = field(default_factory=Routing)
    middle_out: bool = False
    prompt_cache: bool = True
    prompt_cache_ttl: str = "5m"
    reasoning_budget: int = 0  # 0: derived from the effort


@dataclass
class Applied:
    request: ResponsesRequest
    notices: list[str]


def apply_features(
    request: ResponsesRequest,
    model: ModelInfo | None,
    snapshot: CatalogSnapshot | None,
    settings: FeatureSettings,
    *,
    web_toggled: bool,
    task: bool,
    needs: tuple[str, ...] = (),
) -> Applied:
    notices: list[str] = []
    update: dict[str, Any] = {}
    plugins: list[dict[str, Any]] = []
    if not task:
        _web(request, model, settings, web_toggled, plugins, update, notices)
        models, notes = fallback_models(
            request.model, list(settings.fallbacks), snapshot, needs=needs
        )
        if models:
            update["models"] = models
        notices.extend(f"Model fallbacks: {n}" for n in notes)
    provider = settings.routing.to_wire()
    if provider:
        update["provider"] = provider
    if settings.middle_out:
        plugins.append({"id": "context-compression", "engine": "middle-out"})
    if plugins:
        update["plugins"] = plugins
    if request.reasoning is not None and model is not None and model.reasoning_budget:
        update["reasoning"] = _budget(request, settings)
    if settings.prompt_cache and model is not None and _explicit_cache(model):
        update["input"] = _with_breakpoints(request.input, settings.prompt_cache_ttl)
    if not update:
        return Applied(request, notices)
    return Applied(request.model_copy(update=update), notices)


def _web(
    request: ResponsesRequest,
    model: ModelInfo | None,
    settings: FeatureSettings,
    toggled: bool,
    plugins: list[dict[str, Any]],
    update: dict[str, Any],
    notices: list[str],
) -> None:
    wanted = settings.web_search == "always" or (settings.web_search == "toggle" and toggled)
    if not wanted:
        if toggled and settings.web_search == "off":
            notices.append("Web search is switched off by the administrator")
        return
    if model is not None and not model.web_search:
        if toggled:
            notices.append(f"Web search is not available for {model.slug}")
        return
    if settings.web_method == "online":
        if not request.model.endswith(":online"):
            update["model"] = request.model + ":online"
        return
    plugin: dict[str, Any] = {"id": "web", "max_results": settings.web_max_results}
    if settings.web_search_prompt.strip():
        plugin["search_prompt"] = settings.web_search_prompt.strip()
    if settings.web_engine != "auto":
        plugin["engine"] = settings.web_engine
    plugins.append(plugin)


def _budget(request: ResponsesRequest, settings: FeatureSettings) -> ReasoningConfig:
    current = request.reasoning
    assert current is not None
    if current.enabled is False or current.effort == "none":
        return ReasoningConfig(enabled=False)
    budget = settings.reasoning_budget or EFFORT_BUDGETS.get(current.effort or "medium", 8192)
    budget = max(MIN_BUDGET, budget)
    if request.max_output_tokens is not None:  # the budget must leave room for the answer
        budget = min(budget, max(MIN_BUDGET, request.max_output_tokens // 2))
    return ReasoningConfig(max_tokens=budget, enabled=True, summary=current.summary)


def _explicit_cache(model: ModelInfo) -> bool:
    return model.prompt_cache and model.slug.startswith(EXPLICIT_CACHE_VENDORS)


def _with_breakpoints(items: list[Any], ttl: str) -> list[Any]:
    """Breakpoints on the last system/developer message and the last user messages (at most
    four in all): the stable prefix is cached and each turn extends the cached part."""
    marker = CacheControl(ttl="1h" if ttl == "1h" else None)
    targets: list[int] = []
    system = [
        i
        for i, item in enumerate(items)
        if isinstance(item, InputMessage) and item.role in ("system", "developer")
    ]
    if system:
        targets.append(system[-1])
    users = [
        i for i, item in enumerate(items) if isinstance(item, InputMessage) and item.role == "user"
    ]
    targets += users[-(CACHE_BREAKPOINTS - len(targets)) :][-2:]
    out = list(items)
    for index in targets:
        msg = out[index]
        if not isinstance(msg.content, list):
            continue
        parts = list(msg.content)
        for k in range(len(parts) - 1, -1, -1):
            part = parts[k]
            if isinstance(part, InputText) and part.text:
                parts[k] = part.model_copy(update={"cache_control": marker})
                out[index] = msg.model_copy(update={"content": parts})
                break
    return out
