"""Provider routing (`provider`) and model fallbacks (`models`): the administrator's defaults
and limits, then each user's choices inside them.

The administrator's `only`/`ignore` lists, zero-data-retention and data-collection settings are
limits a user cannot loosen: a user can narrow the providers, add exclusions, require ZDR,
deny data collection, lower price caps and pick order/sort, nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model_info import CatalogSnapshot

SORTS = ("price", "throughput", "latency")
MAX_FALLBACKS = 3


def split_csv(text: Any) -> list[str]:
    if not isinstance(text, str):
        return []
    out: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if part and part not in out:
            out.append(part)
    return out


def _usd_cap(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


@dataclass(frozen=True)
class Routing:
    order: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    allow_fallbacks: bool = True
    data_collection: str = "allow"
    zdr: bool = False
    sort: str = ""
    max_prompt: float | None = None  # USD per million tokens
    max_completion: float | None = None

    @classmethod
    def from_valves(cls, valves: Any) -> Routing:
        return cls(
            order=tuple(split_csv(valves.PROVIDER_ORDER)),
            only=tuple(split_csv(valves.PROVIDER_ONLY)),
            ignore=tuple(split_csv(valves.PROVIDER_IGNORE)),
            allow_fallbacks=bool(valves.PROVIDER_ALLOW_FALLBACKS),
            data_collection=valves.PROVIDER_DATA_COLLECTION,
            zdr=bool(valves.PROVIDER_ZDR),
            sort=valves.PROVIDER_SORT,
            max_prompt=_usd_cap(valves.PROVIDER_MAX_PROMPT_PRICE),
            max_completion=_usd_cap(valves.PROVIDER_MAX_COMPLETION_PRICE),
        )

    def narrowed_by(self, choices: dict[str, Any]) -> Routing:
        """The user's choices (UserValves, explicit ones only), kept within these limits."""

        def allowed(name: str) -> bool:
            lowered = name.lower()
            if any(lowered == i.lower() for i in self.ignore):
                return False
            return not self.only or any(lowered == o.lower() for o in self.only)

        order = tuple(p for p in split_csv(choices.get("PREFERRED_PROVIDERS")) if allowed(p))
        ignore = self.ignore + tuple(
            p for p in split_csv(choices.get("EXCLUDED_PROVIDERS")) if p not in self.ignore
        )
        sort = choices.get("PROVIDER_SORT_PREFERENCE")
        return Routing(
            order=order or self.order,
            only=self.only,
            ignore=ignore,
            allow_fallbacks=self.allow_fallbacks,
            data_collection="deny"
            if choices.get("DENY_DATA_COLLECTION") is True
            else self.data_collection,
            zdr=self.zdr or choices.get("REQUIRE_ZERO_DATA_RETENTION") is True,
            sort=sort if sort in SORTS else self.sort,
            max_prompt=_lower(self.max_prompt, _usd_cap(choices.get("MAX_PROMPT_PRICE"))),
            max_completion=_lower(
                self.max_completion, _usd_cap(choices.get("MAX_COMPLETION_PRICE"))
            ),
        )

    def to_wire(self) -> dict[str, Any] | None:
        """The `provider` object; None when nothing differs from OpenRouter's defaults."""
        out: dict[str, Any] = {}
        if self.order:
            out["order"] = list(self.order)
        if self.only:
            out["only"] = list(self.only)
        if self.ignore:
            out["ignore"] = list(self.ignore)
        if not self.allow_fallbacks:
            out["allow_fallbacks"] = False
        if self.data_collection == "deny":
            out["data_collection"] = "deny"
        if self.zdr:
            out["zdr"] = True
        if self.sort:
            out["sort"] = self.sort
        prices = {}
        if self.max_prompt is not None:
            prices["prompt"] = self.max_prompt
        if self.max_completion is not None:
            prices["completion"] = self.max_completion
        if prices:
            out["max_price"] = prices
        return out or None


def _lower(limit: float | None, wish: float | None) -> float | None:
    if wish is None:
        return limit
    return wish if limit is None else min(limit, wish)


def fallback_models(
    primary: str,
    wanted: list[str],
    snapshot: CatalogSnapshot | None,
    *,
    needs: tuple[str, ...] = (),
) -> tuple[list[str], list[str]]:
    """(the `models` list to send, or [] for none; notes about fallbacks left out).

    A fallback must be in the catalog and able to serve what this request needs (images,
    tools, ...), or OpenRouter would fail over to a model that cannot answer."""
    chosen: list[str] = []
    notes: list[str] = []
    for ref in wanted:
        info = snapshot.resolve(ref) if snapshot else None
        if snapshot is not None and info is None:
            notes.append(f"fallback {ref} is not in the catalog")
            continue
        slug = info.slug if info else ref
        if slug == primary or slug in chosen:
            continue
        missing = [need for need in needs if info is not None and not getattr(info, need)]
        if missing:
            notes.append(f"fallback {slug} skipped (no {', '.join(missing)})")
            continue
        if len(chosen) == MAX_FALLBACKS:
            notes.append(f"fallback {slug} skipped (at most {MAX_FALLBACKS})")
            continue
        chosen.append(slug)
    return ([primary, *chosen] if chosen else []), notes
