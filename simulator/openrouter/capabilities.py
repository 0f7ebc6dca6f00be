"""What a catalog model can take: OpenRouter refuses a request the chosen model cannot serve
before any generation starts (tools, image/audio/file input, context length, body size).

OpenRouter routes to the endpoints that support what a request uses; when none does, it answers
404 "No endpoints found that support ..." with `availability.code: "no_endpoints"`. A prompt plus
`max_output_tokens` over the context length is a 400 with `error_type:
"context_length_exceeded"`.
"""

from __future__ import annotations

import json
from typing import Any

from simulator.openrouter.errors import SimHTTPError, unavailable
from simulator.openrouter.script import estimate_tokens
from simulator.openrouter.validation import ResponsesRequest

# Request content part -> the input modality a model must list to take it.
PART_MODALITY = {
    "input_image": "image",
    "input_audio": "audio",
    "input_file": "file",
    "input_video": "video",
}
MODALITY_WORDS = {"image": "image input", "audio": "audio input", "file": "file input"}


def payload_too_large(size: int, limit: int) -> SimHTTPError:
    return SimHTTPError(
        413,
        f"Request body of {size} bytes exceeds the limit of {limit} bytes",
        error_type="payload_too_large",
    )


def no_endpoints(model: str, what: str) -> SimHTTPError:
    return unavailable(
        404,
        f"No endpoints found that support {what}.",
        code="no_endpoints",
        model=model,
        docs_url="https://openrouter.ai/docs/guides/routing/provider-selection",
        error_type="not_found",
    )


def input_tokens_of(req: ResponsesRequest) -> int:
    """The fake's prompt size estimate (about four characters per token)."""
    return max(
        1, estimate_tokens(json.dumps(req.input, ensure_ascii=False) + (req.instructions or ""))
    )


def _parts(req: ResponsesRequest) -> list[dict[str, Any]]:
    if isinstance(req.input, str):
        return []
    out: list[dict[str, Any]] = []
    for item in req.input:
        content = item.get("content")
        if isinstance(content, list):
            out.extend(p for p in content if isinstance(p, dict))
        output = item.get("output")  # a function_call_output may carry images or files
        if isinstance(output, list):
            out.extend(p for p in output if isinstance(p, dict))
    return out


def check_capabilities(
    req: ResponsesRequest,
    model: dict[str, Any],
    *,
    compressed: bool = False,
    context_length: int | None = None,
) -> None:
    """Raise OpenRouter's refusal when `model` cannot serve `req`. `compressed`: middle-out is
    on, so an over-long prompt is trimmed instead of refused; `context_length` overrides the
    catalog's (a scripted small context)."""
    params = set(model.get("supported_parameters") or [])
    function_tools = [t for t in req.tools or [] if t.type == "function"]
    if function_tools and "tools" not in params:
        raise no_endpoints(req.model, "tool use")
    modalities = set((model.get("architecture") or {}).get("input_modalities") or [])
    for part in _parts(req):
        needed = PART_MODALITY.get(str(part.get("type")))
        if needed and needed not in modalities:
            raise no_endpoints(req.model, MODALITY_WORDS.get(needed, f"{needed} input"))
    context = context_length or model.get("context_length")
    if isinstance(context, int) and context > 0 and not compressed:
        prompt = input_tokens_of(req)
        wanted = req.max_output_tokens or 0
        if prompt + wanted > context:
            raise SimHTTPError(
                400,
                f"This endpoint's maximum context length is {context} tokens. However, you "
                f"requested about {prompt + wanted} tokens ({prompt} of text input, {wanted} in "
                'the output). Please reduce the length of either one, or use the "middle-out" '
                "transform to compress your prompt automatically.",
                error_type="context_length_exceeded",
                param="input",
            )
