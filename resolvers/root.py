"""The executable GraphQL schema, assembled from the query and mutation roots."""

import strawberry
from strawberry.schema.config import StrawberryConfig

from resolvers.mutation import Mutation
from resolvers.query import Query
from schema.extensions import schema_extensions
from schema.scalars import SCALARS
from settings import Settings


def build_schema(settings: Settings) -> strawberry.Schema:
    return strawberry.Schema(query=Query, mutation=Mutation,
                             extensions=schema_extensions(settings),
                             config=StrawberryConfig(scalar_map=SCALARS))
