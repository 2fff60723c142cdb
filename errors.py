"""Errors a client may see. Each has a stable ``code`` that GraphQL puts in ``extensions``.

Resolvers and domain code raise :class:`PhananhError`; graphql-core copies ``.extensions`` into
the response. Anything else is masked (see ``schema/extensions.py``) so SQL and stack traces never
reach a client.

Outside GraphQL every HTTP error body has one shape, OGC API – Features' exception
(``{"code", "description"}``, Part 1 1.0, ``exception.yaml``), plus the error's details:
:func:`error_response` builds it and :data:`EXCEPTION_HANDLERS` turns raised errors into it.
"""

from enum import StrEnum
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse


class ErrorCode(StrEnum):
    BAD_COORDINATES = "BAD_COORDINATES"
    INVALID_GEOMETRY = "INVALID_GEOMETRY"
    GEOMETRY_TOO_COMPLEX = "GEOMETRY_TOO_COMPLEX"
    FOOTPRINT_TOO_LARGE = "FOOTPRINT_TOO_LARGE"
    OUTSIDE_JURISDICTION = "OUTSIDE_JURISDICTION"
    UNKNOWN_CATEGORY = "UNKNOWN_CATEGORY"
    NOT_FOUND = "NOT_FOUND"
    BAD_INPUT = "BAD_INPUT"
    BAD_CURSOR = "BAD_CURSOR"
    PAGE_TOO_LARGE = "PAGE_TOO_LARGE"
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
    TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
    TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
    QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    QUERY_TIMEOUT = "QUERY_TIMEOUT"
    BAD_TILE = "BAD_TILE"
    UNKNOWN_PARAMETER = "UNKNOWN_PARAMETER"
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    ANALYSIS_TOO_LARGE = "ANALYSIS_TOO_LARGE"
    UNSUPPORTED_IMAGE = "UNSUPPORTED_IMAGE"
    IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"
    TOO_MANY_PHOTOS = "TOO_MANY_PHOTOS"
    TOO_MANY_ALERTS = "TOO_MANY_ALERTS"


class PhananhError(Exception):
    """An expected failure with a code clients can branch on and a message people can read."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.extensions: dict[str, Any] = {"code": str(code), **details}


# The HTTP status of each code outside GraphQL; every other code is the client's bad input (400).
HTTP_STATUS = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.REQUEST_TOO_LARGE: 413,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.QUERY_TIMEOUT: 503,
}
CODE_OF_STATUS = {status: code for code, status in HTTP_STATUS.items()}
# Answers worth repeating unchanged later: the database was down, busy or too slow. They carry
# ``retryAfter`` (seconds), also as HTTP 503 with a ``Retry-After`` header, GraphQL included.
RETRYABLE = frozenset({ErrorCode.SERVICE_UNAVAILABLE, ErrorCode.QUERY_TIMEOUT})
QUOTED_PREFIX = 40  # characters of a client's input a message may repeat


def quoted(value: object, limit: int = QUOTED_PREFIX) -> str:
    """A client's input as a message may repeat it: quoted, and cut to its first ``limit``
    characters, so that an error never echoes a megabyte (or much of anything) back."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


def retry_headers(retry_after: object) -> dict[str, str]:
    """The ``Retry-After`` header of a retryable answer (none when it has no delay)."""
    return {"Retry-After": str(retry_after)} if isinstance(retry_after, int) else {}


def error_response(code: ErrorCode, description: str, *, status_code: int | None = None,
                   headers: dict[str, str] | None = None, **details: Any) -> JSONResponse:
    """The one HTTP error body: ``{"code", "description"}`` and the error's details."""
    return JSONResponse({**details, "code": str(code), "description": description},
                        status_code=status_code or HTTP_STATUS.get(code, 400),
                        headers={**retry_headers(details.get("retryAfter")), **(headers or {})})


async def _expected(request: Request, exc: PhananhError) -> JSONResponse:
    return error_response(exc.code, exc.message, **exc.details)


async def _starlette(request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's own refusals (no such route, wrong method) in the same shape."""
    return error_response(CODE_OF_STATUS.get(exc.status_code, ErrorCode.BAD_INPUT),
                          f"{exc.detail}: {request.method} {request.url.path}",
                          status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Masked: the server logs the exception, which Starlette raises again after this answer."""
    return error_response(ErrorCode.INTERNAL_ERROR, "Unexpected error.")


# Starlette's ``exception_handlers``: every error raised by an HTTP route leaves in the one shape.
EXCEPTION_HANDLERS = {PhananhError: _expected, HTTPException: _starlette, Exception: _unexpected}
