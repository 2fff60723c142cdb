"""GraphQL types of the hotspot maps and statistics.

Every result is a list of features with their numbers, plus a ready-made GeoJSON
``featureCollection`` (RFC 7946) that a map library can add as a source unchanged.
"""

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from analytics import kpi as kpi_stats
from analytics.areas import AreaCount, Weight
from analytics.clusters import Cluster as ClusterResult
from analytics.clusters import Hull
from analytics.grid import GridCell as GridCellResult
from analytics.grid import Shape
from analytics.hotspots import Emerging, Unit, UnitSeries
from analytics.periods import CITY_TIME_ZONE, Period
from analytics.snapshots import Kind
from analytics.stats_service import KpiStats
from analytics.trend import Pattern
from geo.validation import SIMPLIFY_HELP
from schema.scalars import GeoJSON, written_geojson
from schema.types import Area, Category, Ctx
from workflow.states import POSITIVE_RATINGS, PROCESSED


@strawberry.enum(description="Administrative level of a choropleth.")
class AreaLevelChoice(Enum):
    WARD = "ward"
    DISTRICT = "district"


AreaWeight = strawberry.enum(
    Weight, name="AreaWeight",
    description="How a complaint counts in a choropleth: COUNT, 1 where its representative "
                "point is placed; AREA_SHARE, a line or polygon split between the areas it "
                "touches by its share of length or area (points count 1).")
GridShape = strawberry.enum(Shape, name="GridShape")
HotspotUnit = strawberry.enum(Unit, name="HotspotUnit",
                              description="What Gi* compares: grid cells, wards or districts.")
HullShape = strawberry.enum(Hull, name="HullShape")
EmergingPattern = strawberry.enum(
    Pattern, name="EmergingPattern",
    description="ArcGIS's Emerging Hot Spot Analysis categories (see analytics/trend.py).")


@strawberry.enum
class TrendPeriod(Enum):
    WEEK = "week"
    MONTH = "month"


@strawberry.enum
class SeriesInterval(Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def feature_collection(features: list[tuple[dict[str, Any], dict[str, Any]]]) -> GeoJSON:
    """A GeoJSON FeatureCollection from (geometry, properties) pairs."""
    return GeoJSON({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": geometry, "properties": properties}
        for geometry, properties in features]})


@strawberry.type(description="Complaints in one area.")
class AreaStat:
    area_id: strawberry.Private[int]
    code: str
    count: int = strawberry.field(description="Complaints counted in the area (AREA_SHARE: "
                                              "those with a share of it).")
    weight: float = strawberry.field(description="What the rates count: `count`, or with "
                                                 "AREA_SHARE the sum of the shares.")
    per_km2: float | None = strawberry.field(description="Complaints per km² of the area.")
    per_10k_residents: float | None = strawberry.field(
        description="Complaints per 10,000 residents (null: population unknown).")
    per_10k_residents_smoothed: float | None = strawberry.field(
        description="The same rate smoothed by global empirical Bayes (Marshall 1991): small "
                    "areas shrink towards the overall rate, so a few complaints in a small ward "
                    "do not top the map.")

    @classmethod
    def from_result(cls, area: AreaCount, smoothed: float | None) -> "AreaStat":
        return cls(area_id=area.area_id, code=area.code, count=area.count, weight=area.weight,
                   per_km2=area.per_km2, per_10k_residents=area.per_10k_residents,
                   per_10k_residents_smoothed=smoothed)

    @strawberry.field
    async def area(self, info: Ctx) -> Area:
        return Area.from_row(await info.context.loaders.area.load(self.area_id))


@strawberry.type(description="A choropleth: complaints per ward or district.")
class AreaStats:
    level: AreaLevelChoice
    areas: list[AreaStat]

    @strawberry.field(description="Complaints counted in an area of the generation.")
    def total(self) -> int:
        return sum(a.count for a in self.areas)

    @strawberry.field(description=f"The areas as GeoJSON features with their numbers; "
                                  f"{SIMPLIFY_HELP}")
    async def feature_collection(self, info: Ctx, simplify: float | None = None) -> GeoJSON:
        shapes = await info.context.loaders.area_geometry(simplify).load_many(
            [a.area_id for a in self.areas])
        return feature_collection([
            (shape, {"code": a.code, "count": a.count, "perKm2": a.per_km2,
                     "per10kResidents": a.per_10k_residents,
                     "per10kResidentsSmoothed": a.per_10k_residents_smoothed})
            for shape, a in zip(shapes, self.areas, strict=True)])


@strawberry.type(description="One grid cell: ST_HexagonGrid/ST_SquareGrid indices in the "
                             "projected CRS, its complaints and its polygon (lon/lat).")
class GridCell:
    i: int
    j: int
    count: int
    geometry: GeoJSON

    @classmethod
    def from_result(cls, cell: GridCellResult) -> "GridCell":
        return cls(i=cell.i, j=cell.j, count=cell.count, geometry=written_geojson(cell.geometry))


@strawberry.type(description="Complaints per grid cell; only non-empty cells.")
class Grid:
    shape: GridShape
    cell_size_m: float
    srid: int | None = strawberry.field(description="EPSG code of the UTM zone of the grid.")
    total: int
    cells: list[GridCell]

    @strawberry.field
    def feature_collection(self) -> GeoJSON:
        return feature_collection([(c.geometry, {"i": c.i, "j": c.j, "count": c.count})
                                   for c in self.cells])


@strawberry.type
class CategoryCount:
    code: str
    count: int
    share: float = strawberry.field(description="Of the cluster's complaints.")

    @strawberry.field
    async def category(self, info: Ctx) -> Category:
        return Category.from_row(await info.context.loaders.category.load(self.code))


@strawberry.type(description="A DBSCAN cluster of complaints.")
class Cluster:
    id: int = strawberry.field(description="1 for the largest cluster, 2 for the next, …")
    count: int
    centroid: GeoJSON
    hull: GeoJSON = strawberry.field(description="Convex or concave hull of the members (a "
                                                 "Point or LineString for 1–2 places).")
    dominant_categories: list[CategoryCount]

    @classmethod
    def from_result(cls, number: int, c: ClusterResult) -> "Cluster":
        return cls(id=number, count=c.count, centroid=GeoJSON(c.centroid),
                   hull=GeoJSON(c.hull),
                   dominant_categories=[CategoryCount(code=code, count=n, share=n / c.count)
                                        for code, n in c.categories])


@strawberry.type
class Clusters:
    eps_m: float
    min_points: int
    srid: int | None
    noise: int = strawberry.field(description="Complaints in no cluster.")
    clusters: list[Cluster]
    as_of: datetime = strawberry.field(description="When the clusters were found: now, or when "
                                                   "the snapshot that answers was read "
                                                   "(PHANANH_STATS_SNAPSHOT_MAX_AGE_SECONDS).")

    @strawberry.field(description="The hulls as GeoJSON features.")
    def feature_collection(self) -> GeoJSON:
        return feature_collection([(c.hull, {"id": c.id, "count": c.count})
                                   for c in self.clusters])


@strawberry.type(description="Gi* of one unit (a grid cell \"i,j\" or an area code).")
class HotspotFeature:
    id: str
    count: int
    neighbours: int = strawberry.field(description="Units in its neighbourhood, itself included.")
    z: float | None = strawberry.field(description="Gi* z-score; null where undefined (all "
                                                   "counts equal).")
    p: float | None = strawberry.field(description="Two-sided p-value (normal approximation).")
    bin: int = strawberry.field(description="±3: hot/cold spot at 99 % confidence, ±2: 95 %, "
                                            "±1: 90 %, 0: not significant.")
    geometry: GeoJSON

    @classmethod
    def from_result(cls, unit: UnitSeries) -> "HotspotFeature":
        gi = unit.gi[0]
        return cls(id=unit.label, count=unit.counts[0], neighbours=unit.cardinality, z=gi.z,
                   p=gi.p, bin=gi.bin, geometry=written_geojson(unit.geometry))


@strawberry.type(description="Getis–Ord Gi* hot and cold spots.")
class Hotspots:
    unit: HotspotUnit
    srid: int | None
    fdr: bool = strawberry.field(description="Bins use Benjamini–Hochberg FDR cut-offs.")
    features: list[HotspotFeature]

    @strawberry.field
    def feature_collection(self) -> GeoJSON:
        return feature_collection([(f.geometry, {"id": f.id, "count": f.count, "z": f.z,
                                                 "p": f.p, "bin": f.bin})
                                   for f in self.features])


@strawberry.type(description="The space-time pattern of one unit.")
class EmergingFeature:
    id: str
    pattern: EmergingPattern
    trend_z: float = strawberry.field(description="Mann–Kendall z of the unit's Gi* z-scores.")
    trend_p: float
    counts: list[int] = strawberry.field(description="Complaints per step.")
    z: list[float | None] = strawberry.field(description="Gi* z-score per step (over the "
                                                        "space-time cube).")
    bins: list[int] = strawberry.field(description="Per step: 1 significant hot spot, -1 "
                                                   "significant cold spot, 0 neither.")
    geometry: GeoJSON

    @classmethod
    def from_result(cls, found: Emerging, unit: UnitSeries) -> "EmergingFeature":
        return cls(id=found.label, pattern=found.pattern, trend_z=found.trend_z,
                   trend_p=found.trend_p, counts=unit.counts, z=[g.z for g in unit.gi],
                   bins=found.bins, geometry=written_geojson(found.geometry))


@strawberry.type(description="Emerging hot spots: Gi* per time step, Mann–Kendall per unit.")
class EmergingHotspots:
    period: TrendPeriod
    steps: list[datetime] = strawberry.field(description="Local start of every step.")
    features: list[EmergingFeature]

    @strawberry.field
    def feature_collection(self) -> GeoJSON:
        return feature_collection([(f.geometry, {"id": f.id, "pattern": f.pattern.value,
                                                 "trendZ": f.trend_z, "trendP": f.trend_p})
                                   for f in self.features])


def _either(values: tuple[str, ...]) -> str:
    """``("A", "B", "C")`` → "A, B or C", for descriptions that name a list."""
    return f"{', '.join(values[:-1])} or {values[-1]}"


@strawberry.type(description="Performance figures; definitions in README.md, \"Statistics "
                             "definitions\". Rates and durations are null over no complaints.")
class Kpi:
    received: int
    processed: int = strawberry.field(description=f"Status {_either(PROCESSED)}.")
    processed_rate: float | None = strawberry.field(description="processed / received (0–1).")
    rated: int
    satisfied_rate: float | None = strawberry.field(
        description=f"(Rated {_either(POSITIVE_RATINGS)}) / rated (0–1).")
    overdue: int = strawberry.field(description="Open and past due at `asOf`.")
    processed_late: int = strawberry.field(description="Processed after the due time.")
    median_hours_to_first_action: float | None
    p90_hours_to_first_action: float | None
    median_hours_to_resolution: float | None
    p90_hours_to_resolution: float | None

    @classmethod
    def from_result(cls, k: kpi_stats.Kpi) -> "Kpi":
        return cls(received=k.received, processed=k.processed, processed_rate=k.processed_rate,
                   rated=k.rated, satisfied_rate=k.satisfied_rate, overdue=k.overdue,
                   processed_late=k.processed_late,
                   median_hours_to_first_action=k.hours_to_first_action[0],
                   p90_hours_to_first_action=k.hours_to_first_action[1],
                   median_hours_to_resolution=k.hours_to_resolution[0],
                   p90_hours_to_resolution=k.hours_to_resolution[1])


@strawberry.type(description="The figures of one category or area and its rank by complaints "
                             "received (1 = most; ties share a rank).")
class KpiBreakdown:
    code: str
    name: str
    rank: int
    kpi: Kpi

    @classmethod
    def from_result(cls, row: kpi_stats.Breakdown) -> "KpiBreakdown":
        return cls(code=row.code, name=row.name, rank=row.rank, kpi=Kpi.from_result(row.kpi))


@strawberry.type(description="The counts of one day, week or month (durations are not given "
                             "per period).")
class KpiPoint:
    start: datetime = strawberry.field(description="Local start of the period.")
    kpi: Kpi

    @classmethod
    def from_result(cls, point: kpi_stats.Point) -> "KpiPoint":
        return cls(start=point.start, kpi=Kpi.from_result(point.kpi))


@strawberry.type(description="Transfers away from an agency, for one category.")
class Transfers:
    agency_code: str
    category_code: str
    transfers: int


@strawberry.type(description="The city's performance figures over the complaints matching the "
                             "filter. Each part is computed only when asked for.")
class Stats:
    as_of: datetime = strawberry.field(description="When `overdue` was evaluated.")
    kpis: strawberry.Private[KpiStats]

    @strawberry.field
    async def summary(self) -> Kpi:
        return Kpi.from_result(await self.kpis.summary())

    @strawberry.field(description="When the durations of `summary` and `byCategory` were "
                                  "read: `asOf`, or the time of the snapshot that answered (see "
                                  "`areaDurationsAsOf`).")
    async def durations_as_of(self) -> datetime:
        return await self.kpis.durations_as_of(Kind.TOTALS)

    @strawberry.field(description="When the durations of `byDistrict` and `byWard` were "
                                  "read: `asOf`, or the time of the snapshot that answered "
                                  "(when PHANANH_STATS_SNAPSHOT_MAX_AGE_SECONDS is set, at most "
                                  "that old unless nothing was written since, and never older "
                                  "than the caller's last write).")
    async def area_durations_as_of(self) -> datetime:
        return await self.kpis.durations_as_of(Kind.AREAS)

    @strawberry.field(description="Every category, most complaints first.")
    async def by_category(self) -> list[KpiBreakdown]:
        return await self._breakdown(kpi_stats.By.CATEGORY)

    @strawberry.field(description="Districts the complaints were routed to, most first; all "
                                  "districts in force (within the filter's areas) are listed.")
    async def by_district(self) -> list[KpiBreakdown]:
        return await self._breakdown(kpi_stats.By.DISTRICT)

    @strawberry.field(description="Wards, as `byDistrict`.")
    async def by_ward(self) -> list[KpiBreakdown]:
        return await self._breakdown(kpi_stats.By.WARD)

    @strawberry.field(description="Agencies the complaints are routed to, most first; every "
                                  "agency (within the filter's `agencyCodes`) is listed.")
    async def by_agency(self) -> list[KpiBreakdown]:
        return await self._breakdown(kpi_stats.By.AGENCY)

    @strawberry.field(description="Misroutes: complaints transferred away from each agency, "
                                  "per category (each transfer counts once), most first.")
    async def transfers(self) -> list[Transfers]:
        return [Transfers(agency_code=r.agency_code, category_code=r.category_code,
                          transfers=r.transfers) for r in await self.kpis.transfers()]

    @strawberry.field(description="Counts per local day, week or month, empty ones included.")
    async def series(self, interval: SeriesInterval = SeriesInterval.MONTH,
                     time_zone: str = CITY_TIME_ZONE) -> list[KpiPoint]:
        points = await self.kpis.series(Period(interval.value), time_zone)
        return [KpiPoint.from_result(p) for p in points]

    async def _breakdown(self, by: kpi_stats.By) -> list[KpiBreakdown]:
        return [KpiBreakdown.from_result(r) for r in await self.kpis.breakdown(by)]
