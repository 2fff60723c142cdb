"""The executable GraphQL schema, assembled from each concern's query and mutation roots.

Each concern (core lookups, workflow, analytics, …) defines its own ``Query``/``Mutation``
class in its resolver module; they are merged here into the public roots.
"""

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from resolvers.analytics import AnalyticsQuery
from resolvers.catalogue import CatalogueMutation, CatalogueQuery
from resolvers.live import LiveSubscription
from resolvers.mutation import Mutation
from resolvers.notify import NotifyMutation, NotifyQuery
from resolvers.query import Query
from resolvers.triage import TriageMutation, TriageQuery
from resolvers.workflow import WorkflowMutation, WorkflowQuery
from schema.execution import SplicingExecutor
from schema.extensions import schema_extensions
from schema.scalars import SCALARS
from settings import Settings

QUERIES: tuple[type, ...] = (Query, WorkflowQuery, AnalyticsQuery, CatalogueQuery, NotifyQuery,
                            TriageQuery)
MUTATIONS: tuple[type, ...] = (Mutation, WorkflowMutation, CatalogueMutation, NotifyMutation,
                              TriageMutation)


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        """Expected errors (bad input, denied access) are answers, not faults: no log line.
        Unexpected ones are logged with their traceback by ``schema.extensions.CodedErrors``."""


def build_schema(settings: Settings) -> strawberry.Schema:
    return Schema(
        query=merge_types("Query", QUERIES),
        mutation=merge_types("Mutation", MUTATIONS),
        subscription=LiveSubscription,
        extensions=schema_extensions(settings),
        config=StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=SplicingExecutor,
    )
