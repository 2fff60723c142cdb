"""The executable GraphQL schema, assembled from each concern's query and mutation roots.

Each concern (core lookups, workflow, analytics, …) defines its own ``Query``/``Mutation``
class in its resolver module; they are merged here into the public roots.
"""

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from resolvers.mutation import Mutation
from resolvers.query import Query
from resolvers.workflow import WorkflowMutation, WorkflowQuery
from schema.extensions import schema_extensions
from schema.scalars import SCALARS
from settings import Settings

QUERIES: tuple[type, ...] = (Query, WorkflowQuery)
MUTATIONS: tuple[type, ...] = (Mutation, WorkflowMutation)


def build_schema(settings: Settings) -> strawberry.Schema:
    return strawberry.Schema(
        query=merge_types("Query", QUERIES),
        mutation=merge_types("Mutation", MUTATIONS),
        extensions=schema_extensions(settings),
        config=StrawberryConfig(scalar_map=SCALARS),
    )
