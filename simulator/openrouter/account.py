"""Account routes: `GET /generation?id=` (what `X-Generation-Id` points to), `/key`, `/credits`,
and the `X-RateLimit-*` headers OpenRouter puts on a 429."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.openrouter.errors import SimHTTPError
from simulator.openrouter.state import SimState


def generation_stats(
    generation_id: str, response: dict[str, Any], *, streamed: bool, provider: str
) -> dict[str, Any]:
    """The `/generation` record of one answered response (its terminal response object)."""
    usage = response.get("usage") or {}
    created = response.get("created_at") or int(time.time())
    status = response.get("status") or "completed"
    finish = {"completed": "stop", "incomplete": "length", "failed": "error"}.get(status, "stop")
    if response.get("output") and any(
        i.get("type") == "function_call" for i in response["output"] if isinstance(i, dict)
    ):
        finish = "tool_calls"
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens")
    return {
        "id": generation_id,
        "upstream_id": response.get("id"),
        "total_cost": usage.get("cost") or 0.0,
        "usage": usage.get("cost") or 0.0,
        "is_byok": False,
        "created_at": dt.datetime.fromtimestamp(created, dt.UTC).isoformat(),
        "model": response.get("model"),
        "origin": "",
        "app_id": None,
        "streamed": streamed,
        "cancelled": False,
        "provider_name": provider,
        "latency": 0,
        "moderation_latency": None,
        "generation_time": 0,
        "finish_reason": finish,
        "native_finish_reason": finish,
        "tokens_prompt": usage.get("input_tokens"),
        "tokens_completion": usage.get("output_tokens"),
        "native_tokens_prompt": usage.get("input_tokens"),
        "native_tokens_completion": usage.get("output_tokens"),
        "native_tokens_reasoning": reasoning,
        "native_tokens_cached": (usage.get("input_tokens_details") or {}).get("cached_tokens"),
        "num_media_prompt": None,
        "num_media_completion": None,
        "num_search_results": None,
        "cache_discount": None,
    }


def rate_limit_headers(state: SimState, retry_after: float) -> dict[str, str]:
    reset_ms = int((time.time() + max(retry_after, 1.0)) * 1000)
    return {
        "X-RateLimit-Limit": str(state.config.rate_limit_requests),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(reset_ms),
    }


def _masked(key: str) -> str:
    return f"{key[:9]}...{key[-3:]}" if len(key) > 14 else "sk-or-..."


def account_routes(state: SimState, check_auth: Any) -> list[Route]:
    def authed(request: Request) -> str:
        headers = {k.lower(): v for k, v in request.headers.items()}
        state.record(request.method, request.url.path, request.url.query, headers, None)
        check_auth(state.config, headers)
        return headers.get("authorization", "").partition(" ")[2].strip()

    async def generation(request: Request) -> Response:
        try:
            authed(request)
            gen_id = request.query_params.get("id")
            if not gen_id:
                raise SimHTTPError(400, "Missing required query parameter: 'id'", param="id")
            stats = state.generation(gen_id)
            if stats is None:
                raise SimHTTPError(404, f"Generation {gen_id} not found", error_type="not_found")
        except SimHTTPError as exc:
            return exc.response()
        return JSONResponse({"data": stats})

    async def key(request: Request) -> Response:
        try:
            api_key = authed(request)
        except SimHTTPError as exc:
            return exc.response()
        used = state.total_cost()
        return JSONResponse(
            {
                "data": {
                    "label": _masked(api_key),
                    "limit": None,
                    "limit_remaining": None,
                    "limit_reset": None,
                    "include_byok_in_limit": False,
                    "usage": used,
                    "usage_daily": used,
                    "usage_weekly": used,
                    "usage_monthly": used,
                    "byok_usage": 0,
                    "is_free_tier": False,
                    "is_provisioning_key": False,
                    "rate_limit": {"requests": state.config.rate_limit_requests, "interval": "10s"},
                }
            }
        )

    async def credits(request: Request) -> Response:
        try:
            authed(request)
        except SimHTTPError as exc:
            return exc.response()
        return JSONResponse(
            {"data": {"total_credits": state.config.credits, "total_usage": state.total_cost()}}
        )

    return [
        Route("/api/v1/generation", generation, methods=["GET"]),
        Route("/api/v1/key", key, methods=["GET"]),
        Route("/api/v1/credits", credits, methods=["GET"]),
    ]
