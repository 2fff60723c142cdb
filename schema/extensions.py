"""Schema extensions: limits that protect the server, and error codes on every error.

Every error leaving the API carries ``extensions.code``. Our own errors bring theirs; validation
errors get one from what they are about; anything unexpected is logged and masked, so SQL and
stack traces never reach a client.
"""

import logging
from collections.abc import Callable

from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from errors import ErrorCode
from settings import Settings

log = logging.getLogger("phananh.graphql")

# Substrings of graphql-core's and strawberry's validation messages → our codes.
VALIDATION_CODES = (
    ("exceeds maximum operation depth", ErrorCode.QUERY_TOO_DEEP),
    ("aliases found", ErrorCode.TOO_MANY_ALIASES),
    ("more than", ErrorCode.TOO_MANY_TOKENS),  # "Document contains more than N tokens"
)


class CodedErrors(MaskErrors):
    """MaskErrors that also gives codes to the errors it lets through."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_lacks_code)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if error.original_error is None:  # a syntax or validation error: safe to show
            code = next((c for text, c in VALIDATION_CODES if text in error.message),
                        ErrorCode.GRAPHQL_VALIDATION_FAILED)
            return GraphQLError(error.message, error.nodes, error.source, error.positions,
                                error.path, extensions={"code": str(code)})
        log.error("unexpected error in %s", error.path, exc_info=error.original_error)
        return GraphQLError("Unexpected error.", error.nodes, error.source, error.positions,
                            error.path, extensions={"code": str(ErrorCode.INTERNAL_ERROR)})


def _lacks_code(error: GraphQLError) -> bool:
    return not (error.extensions and "code" in error.extensions)


def schema_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories for the schema, configured from settings."""
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        CodedErrors,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return extensions
