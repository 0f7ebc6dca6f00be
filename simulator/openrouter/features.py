"""The fake acting on OpenRouter's request features: it validates their shapes and answers as
OpenRouter does.

- `plugins`: `web` (and the `:online` variant) adds `url_citation` annotations to the answer;
  `context-compression` (or the legacy `transforms: ["middle-out"]`) lets an over-long input
  through, which is otherwise a 400 `context_length_exceeded`;
- `models`: fallbacks are tried in order; models scripted as down (`down_models`) are skipped
  and the answer's `model` names the one that served; all down is a 503;
- `provider`: filtered against the model's one simulated provider (404 when excluded); the
  decision is recorded in the journal entry (`routing`) for assertions;
- `cache_control` breakpoints on `input_text`: at most four; the prefix up to the last one is
  "cached", so the next request with the same prefix reports it as `cached_tokens`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.openrouter.capabilities import check_capabilities
from simulator.openrouter.catalog import PROVIDER_BY_AUTHOR, Catalog
from simulator.openrouter.errors import SimHTTPError
from simulator.openrouter.script import Citation, estimate_tokens
from simulator.openrouter.validation import ResponsesRequest

MAX_BREAKPOINTS = 4
MAX_FALLBACK_MODELS = 3  # besides the primary


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class WebPlugin(_Strict):
    id: Literal["web"]
    enabled: bool | None = None
    engine: Literal["native", "exa", "firecrawl", "parallel", "perplexity"] | None = None
    max_results: Annotated[int, Field(ge=1, le=25)] | None = None
    max_uses: int | None = None
    search_prompt: str | None = None
    include_domains: list[str] | None = None
    exclude_domains: list[str] | None = None


class CompressionPlugin(_Strict):
    id: Literal["context-compression"]
    enabled: bool | None = None
    engine: Literal["middle-out"] | None = None


class MaxPrice(_Strict):
    prompt: float | str | None = None
    completion: float | str | None = None
    request: float | str | None = None
    image: float | str | None = None
    audio: float | str | None = None


class Provider(_Strict):
    order: list[str] | None = None
    only: list[str] | None = None
    ignore: list[str] | None = None
    allow_fallbacks: bool | None = None
    require_parameters: bool | None = None
    data_collection: Literal["allow", "deny"] | None = None
    zdr: bool | None = None
    enforce_distillable_text: bool | None = None
    quantizations: list[str] | None = None
    sort: Literal["price", "throughput", "latency", "exacto"] | dict[str, Any] | None = None
    max_price: MaxPrice | None = None


class CacheControl(_Strict):
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


PLUGIN_MODELS: dict[str, type[BaseModel]] = {
    "web": WebPlugin,
    "context-compression": CompressionPlugin,
}


def _bad(message: str, param: str) -> SimHTTPError:
    return SimHTTPError(400, message, error_type="invalid_request", param=param)


def _check(model: type[BaseModel], value: Any, where: str) -> BaseModel:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise _bad(f"Invalid request parameters: {where}.{loc}: {first['msg']}", where) from exc


@dataclass
class Decision:
    """What the fake decided for one request, applied to its answer."""

    served_model: str
    web: bool = False
    compressed: bool = False
    cached_tokens: int | None = None
    routing: dict[str, Any] = field(default_factory=dict)


def validate_features(body: dict[str, Any]) -> None:
    """Shape checks beyond the base validation (400 naming the parameter)."""
    for n, plugin in enumerate(body.get("plugins") or []):
        pid = plugin.get("id") if isinstance(plugin, dict) else None
        if pid in PLUGIN_MODELS:
            _check(PLUGIN_MODELS[pid], plugin, f"plugins[{n}]")
    if body.get("provider") is not None:
        _check(Provider, body["provider"], "provider")
    models = body.get("models")
    if models is not None:
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise _bad("Invalid request parameters: models must be a list of model ids", "models")
        if len([m for m in models if m != body.get("model")]) > MAX_FALLBACK_MODELS:
            raise _bad(f"models: at most {MAX_FALLBACK_MODELS} fallback models", "models")
    transforms = body.get("transforms")
    if transforms is not None and (
        not isinstance(transforms, list) or not all(t == "middle-out" for t in transforms)
    ):
        raise _bad("transforms: only 'middle-out' is supported", "transforms")
    breakpoints = 0
    for item in body.get("input") if isinstance(body.get("input"), list) else []:
        for part in item.get("content") or [] if isinstance(item.get("content"), list) else []:
            if isinstance(part, dict) and "cache_control" in part:
                _check(CacheControl, part["cache_control"], "cache_control")
                breakpoints += 1
    if breakpoints > MAX_BREAKPOINTS:
        raise _bad(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {breakpoints}.",
            "cache_control",
        )


def _plugin_on(body: dict[str, Any], pid: str) -> bool:
    return any(
        isinstance(p, dict) and p.get("id") == pid and p.get("enabled") is not False
        for p in body.get("plugins") or []
    )


def _provider_of(slug: str) -> tuple[str, str]:
    return PROVIDER_BY_AUTHOR.get(slug.lstrip("~").split("/")[0], ("SimProvider", "sim"))


def _provider_ok(slug: str, prefs: dict[str, Any]) -> bool:
    name, tag = _provider_of(slug)
    names = {name.lower(), tag.lower()}
    only = [p.lower() for p in prefs.get("only") or []]
    ignore = [p.lower() for p in prefs.get("ignore") or []]
    return not (only and not names & set(only)) and not names & set(ignore)


def decide(
    req: ResponsesRequest,
    body: dict[str, Any],
    catalog: Catalog,
    down: set[str],
    cache: dict[str, int],
    context_length: int | None = None,
) -> Decision:
    """Route the request as OpenRouter would (the primary model, then the `models` fallbacks,
    each checked for availability, provider preferences and what it can take), or raise the
    error OpenRouter would answer with."""
    primary = req.model
    candidates = [primary] + [m for m in req.models or [] if m != primary]
    prefs = body.get("provider") or {}
    compressed = _plugin_on(body, "context-compression") or "middle-out" in (
        body.get("transforms") or []
    )
    tried: list[dict[str, Any]] = []
    refusal: SimHTTPError | None = None
    served = None
    for slug in candidates:
        base = slug.split(":", 1)[0]
        name, _tag = _provider_of(base)
        if base in down or slug in down:
            tried.append({"model": base, "provider": name, "status": 503})
            continue
        if not _provider_ok(base, prefs):
            tried.append({"model": base, "provider": name, "status": "excluded"})
            continue
        entry = catalog.resolve(base)
        if entry is not None:
            try:
                check_capabilities(
                    req.model_copy(update={"model": slug}),
                    entry,
                    compressed=compressed,
                    context_length=context_length,
                )
            except SimHTTPError as exc:
                if exc.status != 404:
                    raise  # a prompt too long for the model is not a routing question
                refusal = refusal or exc
                tried.append({"model": base, "provider": name, "status": "unsupported"})
                continue
        served = slug
        break
    routing: dict[str, Any] = {"preferences": prefs, "tried": tried}
    if served is None:
        if refusal is not None and all(t["status"] != 503 for t in tried):
            raise refusal
        if tried and all(t["status"] == "excluded" for t in tried):
            raise SimHTTPError(
                404,
                "No endpoints found matching your data policy and provider preferences",
                error_type="not_found",
                availability={"code": "constraint_filtered", "retryable": False},
            )
        raise SimHTTPError(
            503,
            f"No available providers could serve {primary} right now",
            error_type="provider_unavailable",
            metadata={"previous_errors": tried},
        )
    base = served.split(":", 1)[0]
    routing["provider"] = _provider_of(base)[0]
    routing["model"] = base
    decision = Decision(served_model=served, routing=routing, compressed=compressed)
    decision.web = served.endswith(":online") or _plugin_on(body, "web")
    decision.cached_tokens = _cache(body, base, cache)
    return decision


def _cache(body: dict[str, Any], model: str, cache: dict[str, int]) -> int | None:
    """Tokens of the prefix up to the last breakpoint already cached (None: no breakpoints)."""
    items = body.get("input") if isinstance(body.get("input"), list) else []
    prefix: list[Any] = []
    last = None
    for item in items:
        prefix.append(item)
        for part in item.get("content") or [] if isinstance(item.get("content"), list) else []:
            if isinstance(part, dict) and part.get("cache_control"):
                last = len(prefix)
    if last is None:
        return None
    cut = [
        {
            **i,
            "content": [{k: v for k, v in p.items() if k != "cache_control"} for p in i["content"]],
        }
        if isinstance(i.get("content"), list)
        else i
        for i in items[:last]
    ]
    text = json.dumps(cut, ensure_ascii=False, sort_keys=True)
    tokens = estimate_tokens(text)
    hit = 0
    for n in range(1, last + 1):  # the longest cached prefix of this request
        key = (
            model
            + hashlib.sha256(
                json.dumps(cut[:n], ensure_ascii=False, sort_keys=True).encode()
            ).hexdigest()
        )
        if key in cache:
            hit = cache[key]
        cache[key] = estimate_tokens(json.dumps(cut[:n], ensure_ascii=False, sort_keys=True))
    return min(hit, tokens)


def web_citations(question: str) -> list[Citation]:
    slug = hashlib.sha256(question.encode()).hexdigest()[:8]
    return [
        Citation(
            url=f"https://news.example.com/{slug}",
            title="Example News",
            content=f"A report about: {question[:80]}",
        ),
        Citation(url=f"https://reference.example.org/{slug}", title="Example Reference"),
    ]
