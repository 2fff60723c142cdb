"""Errors a client may see. Each has a stable ``code`` that GraphQL puts in ``extensions``.

Resolvers and domain code raise :class:`PhananhError`; graphql-core copies ``.extensions`` into
the response. Anything else is masked (see ``schema/extensions.py``) so SQL and stack traces never
reach a client.
"""

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    BAD_COORDINATES = "BAD_COORDINATES"
    INVALID_GEOMETRY = "INVALID_GEOMETRY"
    GEOMETRY_TOO_COMPLEX = "GEOMETRY_TOO_COMPLEX"
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
    BAD_TILE = "BAD_TILE"
    UNKNOWN_PARAMETER = "UNKNOWN_PARAMETER"
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    ANALYSIS_TOO_LARGE = "ANALYSIS_TOO_LARGE"


class PhananhError(Exception):
    """An expected failure with a code clients can branch on and a message people can read."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extensions: dict[str, Any] = {"code": str(code), **details}
