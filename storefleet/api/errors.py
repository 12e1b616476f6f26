"""RFC 9457 problem+json for every error the API returns."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet import errors
from storefleet.asgi import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE

log = logging.getLogger(__name__)


STATUS_BY_ERROR: dict[type[errors.DomainError], int] = {
    errors.InvalidInput: 422,
    errors.BadRequest: 400,
    errors.Locked: 423,
    errors.PaymentRequired: 402,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.AuthenticationFailed: 401,
    errors.PermissionDenied: 403,
    errors.RateLimited: 429,
    errors.ServiceUnavailable: 503,
}


def problem_response(
    status: int,
    *,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def status_for(exc: errors.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def _escaped(part: object) -> str:
    """A field name as text a client can read and JSON can encode: an object key may hold
    control characters or a lone surrogate (the very input being refused)."""
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(part))


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [_escaped(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:] or parts
    return ".".join(parts) or "body"


async def domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    status = status_for(exc)
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    extra = dict(exc.extra)
    if exc.field:
        extra["errors"] = [{"field": exc.field, "message": exc.detail}]
    return problem_response(
        status, code=exc.code, title=exc.title, detail=exc.detail, headers=headers, **extra
    )


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = []
    for err in exc.errors():
        field = _field_name(tuple(err.get("loc", ())))
        message = str(err.get("msg", "invalid value"))
        if err.get("type") == "json_invalid":
            field, message = "body", "Request body is not valid JSON"
        items.append({"field": field, "message": message, "code": err.get("type")})
    fields = ", ".join(dict.fromkeys(i["field"] for i in items))
    return problem_response(
        422,
        code="validation-error",
        title="Invalid input",
        detail=f"Invalid value for: {fields}" if fields else "Invalid input",
        errors=items,
    )


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    detail = exc.detail if isinstance(exc.detail, str) else phrase
    return problem_response(
        status,
        code=phrase.lower().replace(" ", "-"),
        title=phrase,
        detail=detail,
        headers=dict(exc.headers or {}),
    )


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        500, code="internal-error", title="Internal error", detail="An unexpected error occurred"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)
