"""Schema extensions: limits that protect the server, and error codes on every error.

Every error leaving the API carries ``extensions.code``. Our own errors bring theirs; validation
errors get one from what they are about; anything unexpected is logged and masked, so SQL and
stack traces never reach a client.

The limits on a document's shape (depth, aliases) and its cost are measured by ``schema/cost.py``
in one pass per measure, each fragment read once, so a document built to be expensive to
measure is refused as fast as it is parsed.
"""

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    ValidationRule,
    get_operation_ast,
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxTokensLimiter,
    SchemaExtension,
    ValidationCache,
)

from errors import ErrorCode, PhananhError
from schema.cost import Aliases, Depth, FactsCache, budget_for, request_cost, too_costly
from settings import Settings

log = logging.getLogger("phananh.graphql")
DOCUMENT_CACHE_SIZE = 256  # distinct documents kept parsed and validated, per process

# Substrings of strawberry's validation messages → our codes (our own rules bring theirs).
VALIDATION_CODES = (
    ("more than", ErrorCode.TOO_MANY_TOKENS),  # "Document contains more than N tokens"
)


class CodedErrors(MaskErrors):
    """MaskErrors that also gives codes to the errors it lets through."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_lacks_code)

    def on_operation(self) -> Iterator[None]:
        """Also an exception escaping an extension's hook (the cost estimate's, say): strawberry
        would send its text as the error, so it leaves as INTERNAL_ERROR, logged here."""
        try:
            yield from super().on_operation()
        except Exception as error:
            if isinstance(error, PhananhError) or (isinstance(error, GraphQLError)
                                                   and not _lacks_code(error)):
                raise  # an expected failure, with its code
            log.error("unexpected error outside the resolvers", exc_info=error)
            raise PhananhError(ErrorCode.INTERNAL_ERROR, "Unexpected error.") from None

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        # A syntax or validation error, or a variable that a built-in scalar refused: safe to show
        if error.original_error is None or isinstance(error.original_error, GraphQLError):
            code = next((c for text, c in VALIDATION_CODES if text in error.message),
                        ErrorCode.GRAPHQL_VALIDATION_FAILED)
            return GraphQLError(error.message, error.nodes, error.source, error.positions,
                                error.path, extensions={"code": str(code)})
        log.error("unexpected error in %s", error.path, exc_info=error.original_error)
        return GraphQLError("Unexpected error.", error.nodes, error.source, error.positions,
                            error.path, extensions={"code": str(ErrorCode.INTERNAL_ERROR)})


def _lacks_code(error: GraphQLError) -> bool:
    return not (error.extensions and "code" in error.extensions)


def coded(error: PhananhError, node: Any = None) -> GraphQLError:
    return GraphQLError(error.message, node, extensions=error.extensions)


def shape_rule(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    """The validation rule checking depth and aliases of every operation against the limits.
    Made once per schema: the validation cache knows a document by its rules too."""

    class ShapeRule(ValidationRule):
        # On leaving the document: graphql-core has by then refused documents nested too
        # deeply through fragments, which no walk could follow without recursing as deep.
        def leave_document(self, document: DocumentNode, *_: Any) -> None:
            depth, aliases = Depth(document), Aliases(document)
            for operation in document.definitions:
                if isinstance(operation, OperationDefinitionNode):
                    for error in shape_errors(operation, depth, aliases, max_depth,
                                              max_aliases):
                        self.report_error(error)

    return ShapeRule


def shape_errors(operation: OperationDefinitionNode, depth: Depth, aliases: Aliases,
                 max_depth: int, max_aliases: int) -> list[GraphQLError]:
    name = operation.name.value if operation.name else "anonymous"
    errors = []
    found = depth.selections(operation.selection_set, None)
    if found > max_depth:
        errors.append(coded(PhananhError(
            ErrorCode.QUERY_TOO_DEEP, f"'{name}' is {found} levels deep; the maximum operation "
            f"depth is {max_depth}.", maxDepth=max_depth), operation))
    found = aliases.selections(operation.selection_set, None)
    if found > max_aliases:
        errors.append(coded(PhananhError(
            ErrorCode.TOO_MANY_ALIASES, f"'{name}' has {found} aliased fields; at most "
            f"{max_aliases} are allowed.", maxAliases=max_aliases), operation))
    return errors


class ParsedDocuments(SchemaExtension):
    """Documents parsed once: the last :data:`DOCUMENT_CACHE_SIZE` that parsed, by their text.
    Unlike strawberry's ParserCache, a document that does not parse is left to strawberry's
    own parsing, which turns the error into an answer with its code."""

    def __init__(self, documents: OrderedDict[str, DocumentNode]) -> None:
        self.documents = documents

    def on_parse(self) -> Iterator[None]:
        run = self.execution_context
        known = self.documents.get(run.query) if run.query else None
        if known is not None:
            self.documents.move_to_end(run.query)
            run.graphql_document = known
        yield
        if known is None and run.query and run.graphql_document is not None:
            self.documents[run.query] = run.graphql_document
            if len(self.documents) > DOCUMENT_CACHE_SIZE:
                self.documents.popitem(last=False)


class FailClosedAuth(SchemaExtension):
    """A presented token that does not verify (malformed, forged, expired, revoked, a disabled
    account) refuses the whole operation with UNAUTHENTICATED. Treating the caller as anonymous
    instead would let a citizen's submission succeed without its owner, and hide the failure
    from the client that should sign in again."""

    def on_execute(self) -> Iterator[None]:
        run = self.execution_context
        failure = getattr(run.context, "auth_error", None)
        if failure is not None:
            refusal = (PhananhError(ErrorCode.UNAUTHENTICATED, f"Sign in again: {failure.message}")
                       if failure.code is ErrorCode.UNAUTHENTICATED
                       else failure)  # the database could not check the token: retryable
            run.result = ExecutionResult(data=None, errors=[coded(refusal)])
        yield


class CostBudget(SchemaExtension):
    """Refuses an operation whose estimated cost is over the caller's budget, before any
    resolver runs: the answer is then the error alone, with the estimate and the budget."""

    def __init__(self, settings: Settings, facts: FactsCache) -> None:
        self.settings = settings
        self.facts = facts

    async def on_execute(self) -> AsyncIterator[None]:
        run = self.execution_context
        document, context = run.graphql_document, run.context
        operation = get_operation_ast(document, run.operation_name) if document else None
        refused = run.result is not None  # by an extension before this one
        if operation is not None and context is not None and not refused:  # None: outside the app
            cost = await request_cost(run.schema._schema, document, operation, run.variables,
                                      self.settings, context.engine, self.facts)
            budget = budget_for(context.principal, self.settings)
            if cost > budget:
                run.result = ExecutionResult(data=None,
                                             errors=[coded(too_costly(cost, budget))])
        yield


def schema_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories for the schema, configured from settings."""
    facts = FactsCache()  # one per schema: the facts outlive requests
    shape = shape_rule(settings.max_query_depth, settings.max_aliases)
    documents: OrderedDict[str, DocumentNode] = OrderedDict()
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        # Clients send the same few documents again and again: parsed and validated once
        # (the caches are keyed by the text and the token limit, then the document and rules).
        lambda: ParsedDocuments(documents),
        lambda: AddValidationRules([shape]),
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
        FailClosedAuth,
        lambda: CostBudget(settings, facts),
        CodedErrors,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return extensions
