"""One catalog entry: capabilities derived from OpenRouter's `/models` data, and the id mapping.

Open WebUI shows a model as `<function_id>.<sub_id>`; `sub_id` is the upstream slug with its
vendor slash turned into a dot (`openai/gpt-4o-2024-08-06` -> `openai.gpt-4o-2024-08-06`).
Nothing else is rewritten (no lower-casing, no date stripping), so dated and undated ids of one
family stay distinct and map back to their exact slug.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .wire import CatalogEntry

# Chat-Completions vocabulary in `supported_parameters` -> the Responses field it unlocks.
SUPPORTED_PARAM_MAP: dict[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "max_tokens": "max_output_tokens",
    "max_completion_tokens": "max_output_tokens",
    "top_logprobs": "top_logprobs",
    "response_format": "text",
    "structured_outputs": "text",
    "verbosity": "text",
    "tools": "tools",
    "tool_choice": "tool_choice",
    "parallel_tool_calls": "parallel_tool_calls",
    "reasoning": "reasoning",
    "include_reasoning": "reasoning",
    "reasoning_effort": "reasoning",
}

# Responses fields that are never gated by a model's supported_parameters.
ALWAYS_ALLOWED = frozenset(
    {"model", "input", "stream", "instructions", "metadata", "user", "session_id", "include"}
)


def slug_to_sub_id(slug: str) -> str:
    return slug.replace("/", ".", 1)


def sub_id_to_slug(sub_id: str) -> str:
    """Fallback reverse mapping when the catalog is unavailable (vendors contain no dots)."""
    return sub_id if "/" in sub_id else sub_id.replace(".", "/", 1)


def _price(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except (InvalidOperation, ValueError):
        return None


@dataclass(frozen=True)
class ModelInfo:
    slug: str
    name: str
    reasoning: bool = False
    reasoning_mandatory: bool = False
    supported_efforts: tuple[str, ...] = ()
    tools: bool = False
    vision: bool = False
    audio_input: bool = False
    file_input: bool = False
    web_search: bool = False
    max_output_tokens: int | None = None
    context_length: int | None = None
    free: bool = False
    supported: frozenset[str] = field(default_factory=frozenset)  # Responses field names
    reasoning_budget: bool = False  # takes `reasoning.max_tokens` rather than an effort
    prompt_cache: bool = False  # prices cached input (explicit breakpoints help on Anthropic)
    description: str = ""

    @property
    def sub_id(self) -> str:
        return slug_to_sub_id(self.slug)

    def supports(self, responses_field: str) -> bool:
        """Unknown support (no supported_parameters listed) counts as supported."""
        return (
            responses_field in ALWAYS_ALLOWED
            or not self.supported
            or responses_field in self.supported
        )


def parse_model(raw: dict[str, Any]) -> ModelInfo | None:
    """Build a ModelInfo from one `/models` entry; None when the entry has no usable id."""
    entry = CatalogEntry.model_validate(raw)
    slug = entry.id
    if not slug or not slug.strip():
        return None
    params = {p for p in entry.supported_parameters if isinstance(p, str)}
    inputs = {str(m) for m in entry.architecture.input_modalities}
    pricing = entry.pricing
    prices = [_price(v) for k, v in pricing.items() if k in ("prompt", "completion", "request")]
    known = [p for p in prices if p is not None]
    web_price = _price(pricing.get("web_search"))
    max_out = entry.top_provider.max_completion_tokens
    reasoning_info = entry.reasoning
    return ModelInfo(
        slug=slug,
        name=entry.name or slug,
        reasoning=bool(params & {"reasoning", "include_reasoning", "reasoning_effort"})
        or reasoning_info is not None,
        reasoning_mandatory=reasoning_info is not None and reasoning_info.mandatory,
        supported_efforts=tuple(
            str(e) for e in (reasoning_info.supported_efforts if reasoning_info else ())
        ),
        tools="tools" in params or "tool_choice" in params,
        vision="image" in inputs,
        audio_input="audio" in inputs,
        file_input="file" in inputs,
        web_search=web_price is not None and web_price > 0,
        max_output_tokens=max_out if max_out is not None and max_out > 0 else None,
        context_length=entry.context_length,
        free=bool(known) and all(p == 0 for p in known),
        supported=frozenset(SUPPORTED_PARAM_MAP[p] for p in params if p in SUPPORTED_PARAM_MAP),
        reasoning_budget=reasoning_info is not None
        and reasoning_info.supports_max_tokens
        and not reasoning_info.supported_efforts,
        prompt_cache=_price(pricing.get("input_cache_read")) is not None,
        description=entry.description or "",
    )


@dataclass(frozen=True)
class CatalogSnapshot:
    """An immutable view of the catalog, indexed both ways."""

    by_slug: dict[str, ModelInfo]
    by_sub_id: dict[str, ModelInfo]

    @classmethod
    def from_payload(cls, payload: Any) -> CatalogSnapshot:
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise ValueError("catalog payload has no `data` list")
        by_slug: dict[str, ModelInfo] = {}
        for raw in data:
            info = parse_model(raw) if isinstance(raw, dict) else None
            if info is not None and info.slug not in by_slug:
                by_slug[info.slug] = info
        if not by_slug:
            raise ValueError("catalog is empty")
        by_sub: dict[str, ModelInfo] = {}
        for slug in sorted(by_slug):  # deterministic winner if two slugs share a sub id
            by_sub.setdefault(by_slug[slug].sub_id, by_slug[slug])
        return cls(by_slug=by_slug, by_sub_id=by_sub)

    def resolve(self, sub_id: str) -> ModelInfo | None:
        return self.by_sub_id.get(sub_id) or self.by_slug.get(sub_id)
