"""Query resolvers: jurisdiction lookup, areas, categories and complaints."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
import strawberry
from sqlalchemy import Connection
from strawberry.types.nodes import SelectedField

from context import Context, Loaders, Relations
from db import areas as area_sql
from db import complaints as complaint_sql
from db.engine import read
from errors import ErrorCode, PhananhError, quoted
from geo.jurisdiction import LEVELS, lookup_points
from resolvers.points import check_points
from schema.catalogue import Routing
from schema.execution import Prebuilt
from schema.inputs import ComplaintFilter, PointInput
from schema.page_json import page_statement, plain_page
from schema.types import (
    Area,
    AreaLevel,
    Category,
    Complaint,
    ComplaintConnection,
    ComplaintEdge,
    ComplaintOrder,
    Ctx,
    Generation,
    Jurisdiction,
    PageInfo,
)
from workflow import routing

DEFAULT_PAGE_SIZE = 20


async def resolve_jurisdictions(
    info: Ctx, points: list[tuple[float, float]], at: datetime | None
) -> list[Jurisdiction]:
    """Look up the points (one SQL statement per chunk, only for the levels the query selects),
    and the distinct areas found with them (one more, on the same connection)."""
    context = info.context
    await check_points(context.reader, points)
    wanted = requested_fields(info)
    every_level = {"responsibleArea", "agency", "routing"}  # these need all levels
    levels = LEVELS if wanted & every_level else [lv for lv in LEVELS if lv in wanted]
    found = await lookup_in_chunks(context, points, at, levels)
    rows = context.loaders.areas_loaded
    loaded = {area_id: Area.from_row(rows[area_id])
              for area_id in {area_id for levels in found for area_id in levels.values()}
              if area_id in rows}
    return [
        Jurisdiction(
            lon=lon, lat=lat, at=at,
            ward=loaded.get(levels.get("ward")),
            district=loaded.get(levels.get("district")),
            city=loaded.get(levels.get("city")),
        )
        for (lon, lat), levels in zip(points, found, strict=True)
    ]


async def lookup_in_chunks(context: Context, points: list[tuple[float, float]],
                           at: datetime | None, levels: list[str]) -> list[dict[str, int]]:
    """Split a large batch over several pooled connections that PostgreSQL runs on separate
    cores at once: a 10,000-point lookup answers in about half the time on two cores. Each
    chunk's areas come with it, so that the areas' fields answer from the request's loaded
    rows (:meth:`context.Loaders.remember`)."""
    size = context.settings.lookup_chunk_points
    chunks = [points[i : i + size] for i in range(0, len(points), size)]
    results: list[list[dict[str, int]]] = [[] for _ in chunks]

    async def run(index: int) -> None:
        results[index], areas = await read(context.reader, lookup_with_areas,
                                           loaders=context.loaders, points=chunks[index],
                                           at=at, levels=levels)
        context.loaders.remember(areas)

    async with anyio.create_task_group() as group:
        for index in range(len(chunks)):
            group.start_soon(run, index)
    return [found for chunk in results for found in chunk]


def lookup_with_areas(conn: Connection, loaders: Loaders, points: list[tuple[float, float]],
                      at: datetime | None, levels: list[str]
                      ) -> tuple[list[dict[str, int]], Relations]:
    """The areas holding the points, and those areas' rows, in one thread hop on one
    connection: a lookup of one point spent as much of the worker's time fetching its ward
    and district in a second hop as finding them."""
    found = lookup_points(conn, points=points, at=at, levels=levels)
    return found, loaders.fetch_relations(conn, area_ids=[i for f in found for i in f.values()])


def requested_fields(info: Ctx, *path: str) -> set[str]:
    """Names of the fields selected directly under the current one (or under the fields
    ``path`` names below it, such as ``edges``, ``node``), through fragments."""
    level = _fields(info.selected_fields[0].selections)
    for step in path:
        level = _fields([child for field in level if field.name == step
                         for child in field.selections])
    return {field.name for field in level}


def _fields(selections: Sequence[Any]) -> list[SelectedField]:
    """The fields among ``selections``, with those of fragments taken out of them."""
    fields: list[SelectedField] = []
    pending = list(selections)
    while pending:
        selection = pending.pop()
        if isinstance(selection, SelectedField):
            fields.append(selection)
        else:  # an inline fragment or a fragment spread: look inside
            pending.extend(selection.selections)
    return fields


def wanted_relations(fields: set[str]) -> tuple[list[str], bool]:
    """The area levels (ward, district, city) and whether the category that a complaint's
    selected ``fields`` follow: fetched with its row (:meth:`context.Loaders.relations_of`),
    so that those fields answer at once."""
    return [lv for lv in ("ward", "district", "city") if lv in fields], "category" in fields


@strawberry.type
class Query:
    @strawberry.field(description="The ward, district and city holding a point, at a date "
                                  "(default: now). Areas are null where the point is in none. "
                                  "With a `category`, also the agency responsible and why.")
    async def jurisdiction(self, info: Ctx, lon: float, lat: float,
                           at: datetime | None = None,
                           category: str | None = None) -> Jurisdiction:
        found = (await resolve_jurisdictions(info, [(lon, lat)], at))[0]
        if category is not None:
            found.routing = await routing_here(info, found, category, at)
        return found

    @strawberry.field(description="Batch lookup, in the order given.")
    async def jurisdictions(self, info: Ctx, points: list[PointInput],
                            at: datetime | None = None) -> list[Jurisdiction]:
        limit = info.context.settings.max_batch_points
        if len(points) > limit:
            raise PhananhError(ErrorCode.BATCH_TOO_LARGE,
                               f"At most {limit} points per request; got {len(points)}.",
                               maxPoints=limit)
        return await resolve_jurisdictions(info, [(p.lon, p.lat) for p in points], at)

    @strawberry.field(description="An area by code; by default in the generation in force now.")
    async def area(self, info: Ctx, code: str, generation: str | None = None) -> Area | None:
        rows = await _find_areas(info, code=code, generation=generation)
        return Area.from_row(rows[0]) if rows else None

    @strawberry.field
    async def areas(self, info: Ctx, level: AreaLevel | None = None,
                    parent_code: str | None = None,
                    generation: str | None = None) -> list[Area]:
        rows = await _find_areas(info, level=level.value if level else None,
                                 parent_code=parent_code, generation=generation)
        return [Area.from_row(r) for r in rows]

    @strawberry.field(description="Every boundary generation, the newest first.")
    async def generations(self, info: Ctx) -> list[Generation]:
        rows = await read(info.context.reader, area_sql.generations)
        return [Generation.from_row(r) for r in rows]

    @strawberry.field(description="The catalogue's categories, by group then code.")
    async def categories(self, info: Ctx, include_retired: bool = False) -> list[Category]:
        rows = await read(info.context.reader, area_sql.categories,
                          include_retired=include_retired)
        return [Category.from_row(r) for r in rows]

    @strawberry.field
    async def complaint(self, info: Ctx, id: strawberry.ID) -> Complaint:
        rows = await read(info.context.reader, complaint_sql.fetch_by_public_ids,
                          public_ids=[str(id)], viewer=info.context.principal)
        if not rows:
            raise PhananhError(ErrorCode.NOT_FOUND, f"No complaint with id {quoted(id)}.")
        return Complaint.from_row(rows[0])

    @strawberry.field(description="Complaints matching a filter, as a Relay connection.",
                      graphql_type=ComplaintConnection)
    async def complaints(
        self,
        info: Ctx,
        filter: ComplaintFilter | None = None,
        order_by: Annotated[ComplaintOrder | None, strawberry.argument(description=(
            "Default: RELEVANCE with a `text` filter, else CREATED_AT."))] = None,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> ComplaintConnection | Prebuilt:
        context = info.context
        maximum = context.settings.max_page_size
        if not 0 <= first <= maximum:
            raise PhananhError(ErrorCode.PAGE_TOO_LARGE,
                               f"`first` must be between 0 and {maximum}; got {first}.",
                               maxPageSize=maximum)
        query = (filter or ComplaintFilter()).to_query(context.settings.max_polygon_vertices,
                                                       context.principal)
        if order_by is None:
            order_by = ComplaintOrder.CREATED_AT if query.text is None else ComplaintOrder.RELEVANCE
        order = complaint_sql.Order(order_by.value)
        plain = plain_page(info._raw_info) if context.takes_prebuilt else None
        if plain is not None:  # the whole answer from one statement (schema/page_json.py)
            return Prebuilt(await read(
                context.reader, complaint_sql.fetch_page_json,
                statement=page_statement(plain, query.near is not None), f=query, order=order,
                first=first, after=after, viewer=context.principal))
        wanted = wanted_relations(requested_fields(info, "edges", "node")
                                  | requested_fields(info, "nodes"))
        loaders = context.loaders

        def fetch(conn: Connection) -> tuple[complaint_sql.Page, Relations]:
            page = complaint_sql.fetch_page(conn, f=query, order=order, first=first,
                                            after=after, viewer=context.principal)
            return page, loaders.relations_of(conn, page.rows, *wanted)

        page, relations = await read(context.reader, fetch)
        loaders.remember(relations)
        edges = [ComplaintEdge(cursor=cursor, node=Complaint.from_row(row))
                 for row, cursor in zip(page.rows, page.cursors, strict=True)]
        return ComplaintConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next, has_previous_page=after is not None,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            count_total=lambda: read(context.reader, complaint_sql.count, f=query),
        )


async def routing_here(info: Ctx, here: Jurisdiction, category: str,
                       at: datetime | None) -> Routing:
    """How a complaint of ``category`` would be routed at the place found."""
    def decide(conn: Connection) -> Routing:
        known = area_sql.categories_by_codes(conn, [category])
        if not known:
            raise PhananhError(ErrorCode.UNKNOWN_CATEGORY,
                               f"Unknown category {category!r}; see `categories`.")
        areas = {level: area.id for level, area in (("ward", here.ward), ("district",
                 here.district), ("city", here.city)) if area is not None}
        found = routing.route(conn, category, areas, at or datetime.now(UTC))
        return Routing(agency_code=found.agency_code, rule_id=found.rule_id,
                       reason=found.reason)

    return await read(info.context.engine, decide)


async def _find_areas(info: Ctx, **criteria: str | None) -> list[Any]:
    engine = info.context.reader
    generation = criteria.get("generation")
    if generation and not await read(engine, area_sql.generation_exists, name=generation):
        raise PhananhError(ErrorCode.NOT_FOUND, f"No boundary generation {quoted(generation)}.")
    return await read(engine, area_sql.find_areas, **criteria)
