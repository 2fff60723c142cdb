"""Complaints per ward or district (a choropleth): counts, densities and rates per resident.

Which area a complaint counts in, for a given boundary generation: the ward (district) it was
routed to when it was filed, if that area belongs to the generation; otherwise (it was filed
under another generation, or never routed) the area whose boundary covers its location, as
jurisdiction lookup decides it (the SQL function ``covering_areas``, migration 0008). The rule
is the SQL function ``placed_area`` (migration 0017), which the rollups' triggers call too. So each
complaint counts in at most one area, and a boundary reform can be looked at from either side.
That is the count of every analysis, by the complaint's representative point. ``AREA_SHARE``
weighs a line or polygon complaint instead by its shares of the areas it touches
(``footprint_shares``), so a building site across two wards counts 0.7 in one and 0.3 in the
other; point complaints count as before.
The covering area is stored per complaint, generation and level in ``complaint_area`` (kept by
triggers calling ``covering_areas``), so a choropleth in any generation is a join and a
GROUP BY, not a spatial join.
"""

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection

from analytics.query import complaint_where, generation_id
from analytics.rollups import area_counts, whole_days
from db.complaints import ComplaintFilter
from db.sql import Fragment, compose, fetch

# The area a complaint was routed to, whatever its generation.
ROUTED = "LEFT JOIN admin_area routed ON routed.id = complaint.{level}_id"

# Where a complaint lies in a generation comes from ``complaint_area`` (kept by triggers with
# ``covering_areas``, migrations 0006 and 0008).
LOCATED = """complaint_area.generation_id = :generation_id AND complaint_area.level = :level
             AND complaint_area.complaint_id = complaint.id"""

# The placing rule itself is the SQL function ``placed_area`` (migration 0017), which the
# rollup triggers call too; PostgreSQL inlines it, so the covering area below is read only
# for the complaints it decides.
PLACED = ("placed_area(:generation_id, :level, routed.generation_id, routed.level, "
          "routed.id, {covering})")

# Per filtered complaint, its area in :generation_id at {level} and its {step}, the covering
# area looked up complaint by complaint. Cheap when (nearly) all complaints were routed in the
# generation.
PLACED_BY_LOOKUP = f"""
    SELECT {PLACED.format(covering=f"(SELECT complaint_area.area_id FROM complaint_area "
                                   f"WHERE {LOCATED})")} AS area_id, {{step}} AS step
    FROM complaint {ROUTED} WHERE {{where}}"""

# The same result when most complaints were routed under another generation: one join.
PLACED_BY_JOIN = f"""
    SELECT {PLACED.format(covering="complaint_area.area_id")} AS area_id, {{step}} AS step
    FROM complaint {ROUTED} LEFT JOIN complaint_area ON {LOCATED}
    WHERE {{where}}"""


def placed(conn: Connection, f: ComplaintFilter, level: str, generation: int,
           step: str = "NULL", points_only: bool = False) -> Fragment:
    """SQL rows ``(area_id, step)``, one per filtered complaint (area_id NULL if it is in no
    area of the generation); ``step`` is an SQL expression over ``complaint``. With
    ``points_only``, only the complaints whose footprint is a single point."""
    in_force = generation_id(conn, None, level)
    template = PLACED_BY_LOOKUP if generation == in_force else PLACED_BY_JOIN
    where = complaint_where(f)
    if points_only:
        where = compose("{where} AND " + IS_POINT, where=where)
    placement = compose(template, level=level, where=where, step=step)
    return placement.bind(generation_id=generation, level=level)


class Weight(StrEnum):
    COUNT = "COUNT"  # each complaint counts 1 where its representative point is placed
    AREA_SHARE = "AREA_SHARE"  # a line or polygon is split between areas by its shares


IS_POINT = "GeometryType(complaint.footprint) = 'POINT'"

# Per filtered complaint: 1 in its placed area when its footprint is a point, else its share
# of length or area in each area it touches (footprint_shares, migration 0011).
SHARED = f"""
    SELECT area_id, 1.0::float8 AS weight FROM ({{placed}}) AS placed
    UNION ALL
    SELECT s.area_id, s.share FROM complaint
    CROSS JOIN LATERAL footprint_shares(complaint.footprint, ARRAY[:level],
                                        ARRAY[:generation_id]) AS s
    WHERE {{where}} AND NOT {IS_POINT}"""

COUNTED = """SELECT area_id, count(*) AS n, sum(weight) AS weight
             FROM ({weighted}) AS weighted GROUP BY area_id"""

AREA_COUNTS = """
    WITH counted AS ({counted})
    SELECT a.id, a.code, a.area_km2, a.population, COALESCE(counted.n, 0) AS n,
           COALESCE(counted.weight, 0) AS weight
    FROM admin_area a
    LEFT JOIN counted ON counted.area_id = a.id
    WHERE a.generation_id = :generation_id AND a.level = :level
    ORDER BY a.code
"""


@dataclass(frozen=True)
class AreaCount:
    area_id: int
    code: str
    count: int  # complaints counted in the area (with AREA_SHARE: those with a share in it)
    area_km2: float
    population: int | None
    weight: float  # what the rates count: ``count``, or with AREA_SHARE the sum of shares

    @property
    def per_km2(self) -> float | None:
        return self.weight / self.area_km2 if self.area_km2 > 0 else None

    @property
    def per_10k_residents(self) -> float | None:
        return 10_000 * self.weight / self.population if self.population else None


def count_by_area(conn: Connection, f: ComplaintFilter, level: str,
                  generation: str | None, weight: Weight = Weight.COUNT,
                  rollups: bool = True) -> list[AreaCount]:
    """Every area of ``level`` in the generation (default: in force today), empty ones too.
    Counts are read from the daily rollups when they answer the filter (and ``rollups``)."""
    gen = generation_id(conn, generation, level)
    if gen is None:
        return []
    rows = fetch(conn, area_counts_sql(conn, f, level, gen, weight, rollups))
    return [AreaCount(r.id, r.code, r.n, r.area_km2, r.population, float(r.weight))
            for r in rows]


def area_counts_sql(conn: Connection, f: ComplaintFilter, level: str, generation: int,
                    weight: Weight = Weight.COUNT, rollups: bool = True) -> Fragment:
    """The statement of :func:`count_by_area`: over the daily rollups when they answer the
    filter (and ``rollups``; counts only), else over the complaints."""
    days = whole_days(f) if rollups and weight is Weight.COUNT else None
    if days is not None:
        counted = compose("SELECT area_id, n, n::float8 AS weight FROM ({rolled}) AS rolled",
                          rolled=area_counts(days, generation, level))
    elif weight is Weight.AREA_SHARE:
        counted = compose(COUNTED, weighted=compose(
            SHARED, placed=placed(conn, f, level, generation, points_only=True),
            where=complaint_where(f, "shared")))
    else:
        counted = compose(COUNTED, weighted=compose(
            "SELECT area_id, 1 AS weight FROM ({placed}) AS placed",
            placed=placed(conn, f, level, generation)))
    return compose(AREA_COUNTS, counted=counted)


def empirical_bayes(counts: list[int], populations: list[int]) -> list[float]:
    """Global empirical Bayes smoothed rates (Marshall 1991): each area's rate shrunk towards
    the overall rate, the more so the fewer its residents, so a small ward with 3 complaints
    is not the city's worst. Rates are per resident; areas need a population > 0.

    The prior variance is the population-weighted variance of the rates minus the part Poisson
    noise explains, clamped at 0 (then every area gets the overall rate).
    """
    total_events, total_population = sum(counts), sum(populations)
    if not counts or total_population <= 0:
        return []
    mean = total_events / total_population
    rates = [c / p for c, p in zip(counts, populations, strict=True)]
    spread = sum(p * (r - mean) ** 2 for r, p in zip(rates, populations, strict=True))
    variance = max(0.0, spread / total_population - mean / (total_population / len(counts)))
    smoothed = []
    for rate, population in zip(rates, populations, strict=True):
        shrink = variance / (variance + mean / population) if variance > 0 else 0.0
        smoothed.append(shrink * rate + (1 - shrink) * mean)
    return smoothed


def smoothed_per_10k(areas: list[AreaCount]) -> dict[int, float]:
    """Empirical Bayes rates per 10,000 residents for the areas with a known population."""
    known = [a for a in areas if a.population]
    rates = empirical_bayes([a.weight for a in known], [a.population or 0 for a in known])
    return {a.area_id: 10_000 * r for a, r in zip(known, rates, strict=True)}

