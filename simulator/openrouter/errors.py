"""OpenRouter-shaped error bodies (the generic envelope with an int `code`, `error_type`,
`availability`; the Responses-skin envelope with a string code) and the exception that
carries them."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

# The canonical `error_type` each status maps to when a fault does not name one.
ERROR_TYPE_BY_STATUS = {
    400: "invalid_request",
    401: "authentication",
    402: "payment_required",
    403: "permission_denied",
    404: "not_found",
    408: "timeout",
    413: "payload_too_large",
    422: "unprocessable",
    429: "rate_limit_exceeded",
    500: "server",
    502: "provider_unavailable",
    503: "provider_overloaded",
    504: "timeout",
    524: "timeout",
    529: "provider_overloaded",
}

DEFAULT_MESSAGES = {
    400: "Invalid request parameters",
    401: "Missing Authentication header",
    402: "Insufficient credits. Add more using https://openrouter.ai/credits",
    403: "Key does not have permission for this request",
    404: "Not found",
    408: "Operation timed out. Please try again later.",
    413: "Payload too large",
    422: "Unprocessable request",
    429: "Rate limit exceeded. Please retry later.",
    500: "Internal Server Error",
    502: "Provider returned error",
    503: "No available providers could serve this request right now",
    504: "Upstream timed out",
    524: "Request timed out. Please try again later.",
    529: "Provider returned error",
}


def generic_envelope(
    status: int,
    message: str | None = None,
    *,
    error_type: str | None = None,
    metadata: dict[str, Any] | None = None,
    availability: dict[str, Any] | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """`{"error":{"code":<int status>,"message",...}}`, the envelope every status uses."""
    err: dict[str, Any] = {
        "code": status,
        "message": message or DEFAULT_MESSAGES.get(status, "Error"),
        "error_type": error_type or ERROR_TYPE_BY_STATUS.get(status, "unmapped"),
        "http_status": status,
    }
    if param is not None:
        err["param"] = param
    if metadata:
        err["metadata"] = metadata
    if availability:
        err["availability"] = availability
    return {"error": err}


def responses_envelope(message: str, code: str = "invalid_prompt") -> dict[str, Any]:
    """The Responses-skin envelope with a string code (`invalid_prompt`, ...)."""
    return {"error": {"code": code, "message": message}, "metadata": None}


class SimHTTPError(Exception):
    """Raised anywhere in request handling; becomes one OpenRouter-shaped JSON error reply."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **envelope: Any,
    ) -> None:
        self.status = status
        self.body = body if body is not None else generic_envelope(status, message, **envelope)
        self.headers = headers or {}
        super().__init__(self.body["error"].get("message", "error"))

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def unavailable(
    status: int, message: str, *, code: str, model: str, docs_url: str, **envelope: Any
) -> SimHTTPError:
    """A refusal with `availability` (why the requested model cannot serve the request)."""
    return SimHTTPError(
        status,
        message,
        availability={
            "code": code,
            "retryable": False,
            "requested_models": [model],
            "docs_url": docs_url,
        },
        **envelope,
    )


def model_not_found(model: str) -> SimHTTPError:
    return unavailable(
        400,
        f"{model} is not a valid model ID",
        code="model_not_found",
        model=model,
        docs_url="https://openrouter.ai/models",
        error_type="invalid_request",
        param="model",
    )
