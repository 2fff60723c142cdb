"""Hotspot maps and statistics: choropleths, grids, clusters, Gi* hot spots, emerging hot
spots and the city's KPIs. Every query takes the platform's complaint filter."""

import dataclasses
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import strawberry

from analytics import snapshots
from analytics.areas import Weight, count_by_area, smoothed_per_10k
from analytics.clusters import ClusterResult
from analytics.grid import count_cells
from analytics.hotspots import (
    MAX_BAND_CELLS,
    MAX_BAND_M,
    MIN_BAND_M,
    Weights,
    emerging,
    space_time,
)
from analytics.periods import CITY_TIME_ZONE, Period, calendar_for, check_time_zone
from analytics.stats_service import KpiStats
from context import Context
from db import areas as area_sql
from db.complaints import ComplaintFilter as ComplaintQuery
from db.engine import Work, read
from errors import ErrorCode, PhananhError, quoted
from geo.validation import check_bbox
from resolvers.query import requested_fields
from schema.analytics import (
    AreaLevelChoice,
    AreaStat,
    AreaStats,
    AreaWeight,
    Cluster,
    Clusters,
    EmergingFeature,
    EmergingHotspots,
    Grid,
    GridCell,
    GridShape,
    HotspotFeature,
    Hotspots,
    HotspotUnit,
    HullShape,
    Stats,
    TrendPeriod,
)
from schema.inputs import BBoxInput, ComplaintFilter
from schema.types import Ctx

CONFIDENCE_BINS = {90: 1, 95: 2, 99: 3}

T = TypeVar("T")


async def analysed(info: Ctx, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """``fn(conn, **kwargs)`` as an analysis: on the request's replica (db/nodes.py), bounded by
    the analytics statement timeout."""
    return await read(info.context.analytics_reader, fn, work=Work.ANALYTICS, **kwargs)


def complaint_query(info: Ctx, filter: ComplaintFilter | None) -> ComplaintQuery:
    context = info.context
    return (filter or ComplaintFilter()).to_query(context.settings.max_polygon_vertices,
                                                  context.principal)


def narrowed_to_bbox(query: ComplaintQuery, bbox: BBoxInput | None) -> ComplaintQuery:
    """The filter further limited to ``bbox`` (the intersection with the filter's own box)."""
    if bbox is None:
        return query
    check_bbox(bbox.west, bbox.south, bbox.east, bbox.north)
    box = (bbox.west, bbox.south, bbox.east, bbox.north)
    if query.bbox is not None:
        box = (max(box[0], query.bbox[0]), max(box[1], query.bbox[1]),
               min(box[2], query.bbox[2]), min(box[3], query.bbox[3]))
        if box[0] > box[2] or box[1] > box[3]:
            raise PhananhError(ErrorCode.BAD_INPUT, "`bbox` and `filter.bbox` do not overlap.")
    return dataclasses.replace(query, bbox=box)


def weights(distance_band_m: float | None, k: int | None) -> Weights:
    found = Weights(band_m=distance_band_m, k=k)
    found.check()
    return found


async def with_area_and_window(info: Ctx, query: ComplaintQuery, start: datetime | None,
                               end: datetime | None, area: str | None,
                               category: str | None) -> ComplaintQuery:
    """The stats shorthands folded into the filter; each replaces the filter's own field."""
    changes: dict[str, Any] = {}
    if start is not None:
        changes["created_from"] = start
    if end is not None:
        changes["created_to"] = end
    if category is not None:
        changes["categories"] = (category,)
    if area is not None:
        found = await read(info.context.analytics_reader, area_sql.find_areas, code=area)
        levels = {row.level for row in found}
        if "ward" in levels:
            changes["ward_codes"] = (area,)
        elif "district" in levels:
            changes["district_codes"] = (area,)
        else:
            raise PhananhError(ErrorCode.NOT_FOUND,
                               f"No ward or district with code {quoted(area)}.")
    return dataclasses.replace(query, **changes)


Argument = strawberry.argument
DistanceBand = Annotated[float | None, Argument(
    description=f"Binary weights: units whose centres are within this many metres "
                f"({MIN_BAND_M:,.0f} to {MAX_BAND_M:,.0f}; on a grid at most "
                f"{MAX_BAND_CELLS} cell sizes), itself included.")]
Nearest = Annotated[int | None, Argument(description="Binary weights: the unit and its k "
                                                     "nearest units (instead of a band).")]
CellSize = Annotated[float | None, Argument(description="Cell size in metres (hexagon edge or "
                                                        "square side); needed for GRID.")]
Generation = Annotated[str | None, Argument(description="Boundary generation (default: the one "
                                                        "in force today).")]


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(description="A choropleth: complaints per ward or district of a boundary "
                                  "generation, with densities and rates per resident.")
    async def area_stats(self, info: Ctx, level: AreaLevelChoice,
                         generation: Generation = None,
                         filter: ComplaintFilter | None = None,
                         weight: AreaWeight = AreaWeight.COUNT) -> AreaStats:
        query = complaint_query(info, filter)
        counts = await analysed(info, count_by_area, f=query, level=level.value,
                                generation=generation, weight=Weight(weight.value))
        smoothed = smoothed_per_10k(counts)
        return AreaStats(level=level, areas=[AreaStat.from_result(c, smoothed.get(c.area_id))
                                             for c in counts])

    @strawberry.field(description="Complaints per hexagon or square cell, sized in metres in "
                                  "the UTM zone of the data; only non-empty cells. Each "
                                  "complaint is counted in exactly one cell (see README).")
    async def grid(self, info: Ctx, cell_size_m: float,
                   shape: GridShape = GridShape.HEXAGON, bbox: BBoxInput | None = None,
                   generation: Generation = None,
                   filter: ComplaintFilter | None = None) -> Grid:
        query = narrowed_to_bbox(complaint_query(info, filter), bbox)
        found = await analysed(info, count_cells, f=query, shape=shape,
                           size_m=cell_size_m, generation=generation,
                           max_cells=info.context.settings.max_grid_cells)
        cells = [GridCell.from_result(c) for c in found.cells] if found else []
        return Grid(shape=shape, cell_size_m=cell_size_m, srid=found.grid.srid if found else None,
                    total=sum(c.count for c in cells), cells=cells)

    @strawberry.field(description="DBSCAN clusters (ST_ClusterDBSCAN) in metres, largest first.")
    async def clusters(self, info: Ctx, eps_m: float, min_points: int,
                       hull: HullShape = HullShape.CONVEX, top_categories: int = 3,
                       filter: ComplaintFilter | None = None) -> Clusters:
        if not 1 <= top_categories <= 15:
            raise PhananhError(ErrorCode.BAD_INPUT, "topCategories must be between 1 and 15.")
        query = complaint_query(info, filter)
        arguments = {"eps_m": eps_m, "min_points": min_points, "hull": hull.value,
                     "top_categories": top_categories,
                     "max_points": info.context.settings.max_cluster_points}
        found, as_of = await clusters_of(info, query, arguments)
        return Clusters(eps_m=eps_m, min_points=min_points, srid=found.srid, noise=found.noise,
                        as_of=as_of, clusters=[Cluster.from_result(n, c)
                                               for n, c in enumerate(found.clusters, start=1)])

    @strawberry.field(description="Getis–Ord Gi* hot and cold spots, with two-sided p-values "
                                  "and ArcGIS-style confidence bins; `fdr` applies "
                                  "Benjamini–Hochberg.")
    async def hotspots(self, info: Ctx, unit: HotspotUnit = HotspotUnit.GRID,
                       cell_size_m: CellSize = None, shape: GridShape = GridShape.HEXAGON,
                       distance_band_m: DistanceBand = None, k: Nearest = None,
                       fdr: bool = False, generation: Generation = None,
                       filter: ComplaintFilter | None = None) -> Hotspots:
        query = complaint_query(info, filter)
        found = await analysed(info, space_time, f=query, unit=unit,
                           weights=weights(distance_band_m, k), calendar=None, fdr=fdr,
                           shape=shape, cell_size_m=cell_size_m, generation=generation,
                           max_units=info.context.settings.max_hotspot_units)
        return Hotspots(unit=unit, srid=found.srid, fdr=fdr,
                        features=[HotspotFeature.from_result(u) for u in found.units])

    @strawberry.field(description="Emerging hot spots: Gi* in every week or month, a "
                                  "Mann–Kendall trend per unit, and ArcGIS's pattern names.")
    async def emerging_hotspots(
        self, info: Ctx, period: TrendPeriod, unit: HotspotUnit = HotspotUnit.GRID,
        cell_size_m: CellSize = None, shape: GridShape = GridShape.HEXAGON,
        distance_band_m: DistanceBand = None, k: Nearest = None, fdr: bool = False,
        confidence: Annotated[int, Argument(description="90, 95 or 99 (%): significance of "
                                                        "hot/cold steps and of the trend.")] = 90,
        time_zone: str = CITY_TIME_ZONE, generation: Generation = None,
        filter: ComplaintFilter | None = None,
    ) -> EmergingHotspots:
        if confidence not in CONFIDENCE_BINS:
            raise PhananhError(ErrorCode.BAD_INPUT, "confidence must be 90, 95 or 99.")
        check_time_zone(time_zone)
        query = complaint_query(info, filter)
        settings = info.context.settings
        spatial_weights = weights(distance_band_m, k)

        def analyse(conn: Any) -> Any:
            calendar = calendar_for(conn, query, Period(period.value), time_zone,
                                    settings.max_time_steps)
            if calendar is None:
                return None
            return space_time(conn, query, unit, spatial_weights, calendar, fdr, shape=shape,
                              cell_size_m=cell_size_m, generation=generation,
                              max_units=settings.max_hotspot_units)

        found = await analysed(info, analyse)
        if found is None:
            return EmergingHotspots(period=period, steps=[], features=[])
        patterns = emerging(found, CONFIDENCE_BINS[confidence])
        return EmergingHotspots(
            period=period, steps=[s for s in found.steps if s is not None],
            features=[EmergingFeature.from_result(p, u)
                      for p, u in zip(patterns, found.units, strict=True)])

    @strawberry.field(description="The city's KPIs: received, processed, satisfaction, time to "
                                  "act and resolve, overdue; by category, district and ward; "
                                  "and over time. `from`, `to`, `area` (a ward or district "
                                  "code) and `category` are shorthands for filter fields.")
    async def stats(
        self, info: Ctx,
        start: Annotated[datetime | None, Argument(name="from")] = None,
        to: Annotated[datetime | None, Argument(description="Exclusive.")] = None,
        area: str | None = None, category: str | None = None,
        filter: ComplaintFilter | None = None,
    ) -> Stats:
        query = await with_area_and_window(info, complaint_query(info, filter), start, to, area,
                                           category)
        as_of = datetime.now(UTC)
        context = info.context
        return Stats(as_of=as_of, kpis=KpiStats(
            context.analytics_reader, query, as_of, context.settings.max_series_periods,
            total_and_categories={"summary", "byCategory"} <= requested_fields(info),
            parallel_workers=context.settings.stats_parallel_workers,
            snapshot_use=snapshot_use(context)))


def snapshot_use(context: Context) -> snapshots.SnapshotUse | None:
    """How this request may use the snapshots of the statistics' durations and of clusters
    (None: they are off)."""
    max_age = context.settings.stats_snapshot_max_age_seconds
    if max_age <= 0:
        return None
    return snapshots.SnapshotUse(context.engine, max_age, context.read_after)


async def clusters_of(info: Ctx, query: ComplaintQuery, arguments: dict[str, Any]
                      ) -> tuple[ClusterResult, datetime]:
    """The clusters of ``query`` with ``arguments`` (``clusters_part``'s), and when they were
    found: from the snapshot that answers the caller when snapshots are on, else now."""
    as_of = datetime.now(UTC)
    (part,), kept_at = await snapshots.parts_for(
        snapshot_use(info.context), snapshots.Kind.CLUSTERS, query,
        functools.partial(analysed, info), arguments)
    return ClusterResult.from_part(part), kept_at or as_of
