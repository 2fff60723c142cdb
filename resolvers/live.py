"""GraphQL subscriptions: complaints as they change, from the database's notices
(``notify/live.py``), filtered and shown as each subscriber's own queries would."""

from collections.abc import AsyncGenerator

import strawberry

from context import Loaders
from db.complaints import ComplaintFilter as ComplaintQuery
from schema.inputs import ComplaintFilter
from schema.permissions import ReportersOnly, SignedIn
from schema.types import ComplaintUpdate, Ctx


async def _updates(info: Ctx, query: ComplaintQuery) -> AsyncGenerator[ComplaintUpdate, None]:
    context = info.context
    async for row, shared in context.hub.stream(query, context.principal):
        # A connection lives long: each notice reads relations afresh (not from the cache of
        # the first), through loaders shared by all its subscribers (their rows are public; what
        # each caller may see was decided by the policy SQL that selected ``row``). They read
        # the primary, which sent the notice: a replica may not have the change yet.
        context.loaders = shared.setdefault("loaders", Loaders(lambda: context.engine))
        yield ComplaintUpdate.from_row(row)


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(description="New complaints and status changes matching `filter` "
                                         "(any filter `complaints` takes), as you may see them.")
    async def complaint_events(self, info: Ctx, filter: ComplaintFilter | None = None
                               ) -> AsyncGenerator[ComplaintUpdate, None]:
        context = info.context
        query = (filter or ComplaintFilter()).to_query(context.settings.max_polygon_vertices,
                                                       context.principal)
        async for update in _updates(info, query):
            yield update

    @strawberry.subscription(permission_classes=[SignedIn, ReportersOnly],
                             description="Changes to the complaints you reported.")
    async def my_complaints(self, info: Ctx) -> AsyncGenerator[ComplaintUpdate, None]:
        async for update in _updates(info, ComplaintQuery(reported_by=info.context.principal)):
            yield update
