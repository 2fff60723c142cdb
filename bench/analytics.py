"""Hotspot maps and statistics on 1,000,000 demo complaints, and how they scale from 100,000.

Each query runs through GraphQL over HTTP in process (Starlette's TestClient, JSON included),
against two baselines measured in the same run on the same database:

* "same SQL": the statements the API issues, run directly (``conn.execute``), rows fetched:
  what the API adds on top of it is the GraphQL and Python cost (target ≤ 1.5×);
* "naive SQL": the textbook PostGIS way to do the job (``ST_HexagonGrid`` joined to the points
  by ``ST_Intersects``, areas joined by ``ST_Covers``, neighbours by ``ST_DWithin``), to show
  what the method buys.

Databases: ``<name>_bench`` (1,000,000 complaints received over three years, shared with the
other benchmarks) and ``<name>_bench_100k``; both seeded once and reused. "A year" is the
last 365 whole days in the city (about 370,000 complaints at 1M); "all years" the whole
archive, from the first day's midnight. ``bench scale`` runs the same jobs (:func:`job_list`).
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, text
from starlette.testclient import TestClient

from analytics import kpi
from analytics.areas import area_counts_sql
from analytics.grid import Grid, Shape, cell_counts
from analytics.hotspots import Unit, Weights, space_time
from analytics.periods import CITY_TIME_ZONE, Calendar, Period
from analytics.query import analysis_srid, generation_id
from app import create_app
from bench.common import (
    Timing,
    bench_engine,
    bench_settings,
    console,
    ensure_demo_data,
    measure,
    print_table,
)
from db.complaints import ComplaintFilter
from db.sql import compose

SIZES = {100_000: "bench_100k", 1_000_000: "bench"}
GRID_M, HOTSPOT_M, BAND_M = 500.0, 800.0, 2_000.0

GRID_QUERY = f"{{ grid(cellSizeM: {GRID_M}) {{ srid total cells {{ i j count geometry }} }} }}"
AREA_QUERY = """query($generation: String) { areaStats(level: WARD, generation: $generation) {
    total areas { code count perKm2 per10kResidents per10kResidentsSmoothed } } }"""
HOTSPOT_QUERY = f"""{{ hotspots(cellSizeM: {HOTSPOT_M}, distanceBandM: {BAND_M}) {{
    features {{ id count neighbours z p bin geometry }} }} }}"""
KPI = """received processed processedRate rated satisfiedRate overdue processedLate
         medianHoursToFirstAction p90HoursToFirstAction medianHoursToResolution
         p90HoursToResolution"""
STATS_QUERY = f"""query($from: DateTime!, $to: DateTime!) {{ stats(from: $from, to: $to) {{
    summary {{ {KPI} }} series(interval: MONTH) {{ start kpi {{ received processed }} }} }} }}"""
STATS_FULL_QUERY = f"""query($from: DateTime!, $to: DateTime!) {{ stats(from: $from, to: $to) {{
    summary {{ {KPI} }} series(interval: MONTH) {{ start kpi {{ received processed }} }}
    byCategory {{ code rank kpi {{ {KPI} }} }} byDistrict {{ code rank kpi {{ {KPI} }} }}
    byWard {{ code rank kpi {{ {KPI} }} }} }} }}"""
CLUSTER_QUERY = """query($filter: ComplaintFilter) { clusters(epsM: 150, minPoints: 20,
    filter: $filter) { noise clusters { count centroid hull dominantCategories { code } } } }"""
EMERGING_QUERY = """{ emergingHotspots(period: MONTH, cellSizeM: 1500, distanceBandM: 3500) {
    steps features { id pattern trendZ counts } } }"""

NAIVE_GRID = """
    SELECT h.i, h.j, count(*) AS n, ST_AsGeoJSON(ST_Transform(h.geom, 4326), 7) AS geometry
    FROM ST_HexagonGrid(:size, (SELECT ST_Transform(ST_SetSRID(CAST(ST_Extent(geom) AS geometry),
                                                                4326), :srid)
                                FROM admin_area WHERE generation_id = :generation)) AS h
    JOIN complaint c ON ST_Intersects(c.location, ST_Transform(h.geom, 4326))
    GROUP BY h.i, h.j, h.geom
"""
NAIVE_AREAS = """
    SELECT a.code, count(c.id) AS n
    FROM admin_area a LEFT JOIN complaint c ON ST_Covers(a.geom, c.location)
    WHERE a.generation_id = :generation AND a.level = 'ward'
    GROUP BY a.code
"""
NAIVE_HOTSPOTS = """
    WITH study AS (SELECT ST_Transform(ST_Union(geom), :srid) AS g FROM admin_area
                   WHERE generation_id = :generation AND parent_id IS NULL),
    cells AS (SELECT h.i, h.j, h.geom FROM study, ST_HexagonGrid(:size, study.g) AS h
              WHERE ST_CoveredBy(h.geom, study.g)),
    counted AS (SELECT cells.i, cells.j, ST_Centroid(cells.geom) AS centre, count(c.id) AS n
                FROM cells LEFT JOIN complaint c
                     ON ST_Intersects(c.location, ST_Transform(cells.geom, 4326))
                GROUP BY cells.i, cells.j, cells.geom)
    SELECT a.i, a.j, a.n, sum(b.n) AS lag, count(*) AS neighbours
    FROM counted a JOIN counted b ON ST_DWithin(a.centre, b.centre, :band)
    GROUP BY a.i, a.j, a.n
"""


class Api:
    """GraphQL over HTTP, in process."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def __call__(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = self.client.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"GraphQL error: {body}")
        return body["data"]


def rows(engine: Engine, sql: str, params: dict[str, Any]) -> Callable[[], list[Any]]:
    def run() -> list[Any]:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    return run


def sequential(engine: Engine, work: Callable[[Connection], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with engine.connect() as conn:
            return work(conn)
    return run


def grid_sql(srid: int) -> tuple[str, dict[str, Any]]:
    statement = compose("""SELECT i, j, n, CAST(ST_AsGeoJSON(ST_Transform(cell, 4326), 7) AS json)
                           FROM ({counts}) AS cells ORDER BY i, j""",
                        counts=cell_counts(ComplaintFilter(), Grid(Shape.HEXAGON, GRID_M, srid)))
    return statement.text, dict(statement.params)


def area_sql(engine: Engine, generation: int) -> tuple[str, dict[str, Any]]:
    with engine.connect() as conn:
        statement = area_counts_sql(conn, ComplaintFilter(), "ward", generation)
    return statement.text, dict(statement.params)


def stats_sql(conn: Connection, f: ComplaintFilter, full: bool) -> None:
    """The statistics statements the API issues, one after the other, on one connection."""
    as_of = datetime.now(UTC)
    for by in (kpi.By.ALL, *((kpi.By.CATEGORY, kpi.By.DISTRICT, kpi.By.WARD) if full else ())):
        if by is not kpi.By.ALL:
            kpi.entries(conn, f, by)
        for part in kpi.parts_for(by, f):
            kpi.part(conn, f, by, part, as_of)
    assert f.created_from is not None and f.created_to is not None
    starts = Calendar(Period.MONTH, f.created_from, f.created_to).starts(conn)
    kpi.part(conn, f, kpi.By.PERIOD, kpi.Part.COUNTS, as_of, starts)


Jobs = dict[str, tuple[Callable[[], Any], Callable[[], Any] | None, Callable[[], Any] | None]]


def job_list(api: Api, engine: Engine) -> Jobs:
    """Every job, by name: (through the API, the same SQL run directly, the naive SQL), the
    last two None where there is none. The year and the archive are whole days in the city,
    so the daily rollups can answer what they hold. The 2019 choropleth is there only when
    the database has the demo's 2019 generation."""
    with engine.connect() as conn:
        generation = generation_id(conn, None, "ward")
        has_2019 = conn.execute(text(
            "SELECT EXISTS (SELECT 1 FROM boundary_generation WHERE name = 'demo-2019')")
        ).scalar_one()
        old_generation = generation_id(conn, "demo-2019", "ward") if has_2019 else None
        srid = analysis_srid(conn, ComplaintFilter(), generation)
        newest, oldest = conn.execute(text(
            "SELECT max(created_at), min(created_at) FROM complaint")).one()
    assert generation is not None and srid is not None
    end = _midnight(newest) + timedelta(days=1)
    window = ComplaintFilter(created_from=end - timedelta(days=365), created_to=end)
    whole = ComplaintFilter(created_from=_midnight(oldest), created_to=end)
    year = {"from": window.created_from.isoformat(), "to": end.isoformat()}
    archive = {"from": whole.created_from.isoformat(), "to": end.isoformat()}
    recent = {"categories": ["construction.illegal"],
              "createdFrom": (end - timedelta(days=90)).isoformat(), "createdTo": end.isoformat()}
    grid, grid_params = grid_sql(srid)
    areas, area_params = area_sql(engine, generation)
    naive = {"size": GRID_M, "srid": srid, "generation": generation, "band": BAND_M}
    jobs: Jobs = {
        "grid 500 m hexagons": (
            lambda: api(GRID_QUERY), rows(engine, grid, grid_params),
            rows(engine, NAIVE_GRID, naive)),
        "areaStats wards": (
            lambda: api(AREA_QUERY), rows(engine, areas, area_params),
            rows(engine, NAIVE_AREAS, naive)),
    }
    if old_generation is not None:
        old_areas, old_params = area_sql(engine, old_generation)
        jobs["areaStats wards 2019"] = (
            lambda: api(AREA_QUERY, {"generation": "demo-2019"}),
            rows(engine, old_areas, old_params),
            rows(engine, NAIVE_AREAS, {**naive, "generation": old_generation}))
    jobs.update({
        "hotspots 800 m, 2 km": (
            lambda: api(HOTSPOT_QUERY),
            sequential(engine, lambda conn: space_time(
                conn, ComplaintFilter(), Unit.GRID, Weights(band_m=BAND_M), None, False,
                Shape.HEXAGON, HOTSPOT_M)),
            rows(engine, NAIVE_HOTSPOTS, {**naive, "size": HOTSPOT_M})),
        "stats year": (
            lambda: api(STATS_QUERY, year),
            sequential(engine, lambda conn: stats_sql(conn, window, False)), None),
        "stats year + breakdowns": (
            lambda: api(STATS_FULL_QUERY, year),
            sequential(engine, lambda conn: stats_sql(conn, window, True)), None),
        "stats all years + breakdowns": (
            lambda: api(STATS_FULL_QUERY, archive),
            sequential(engine, lambda conn: stats_sql(conn, whole, True)), None),
        "clusters 90 days": (
            lambda: api(CLUSTER_QUERY, {"filter": recent}), None, None),
        "emerging months 1.5 km": (lambda: api(EMERGING_QUERY), None, None),
    })
    return jobs


def _midnight(instant: datetime) -> datetime:
    """The start of ``instant``'s day in the city."""
    return instant.astimezone(ZoneInfo(CITY_TIME_ZONE)).replace(hour=0, minute=0, second=0,
                                                                microsecond=0)


def prepare(engine: Engine) -> None:
    """As autovacuum would have done by now (the visibility map lets the analyses answer from
    the covering indexes, of the complaints and of the rollups, alone), and a checkpoint, so
    that writing the seed out to disk does not run beside the measurements."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE complaint, complaint_area, complaint_rollup, "
                          "complaint_grid_rollup, complaint_grid_month_rollup, "
                          "complaint_kpi_rollup"))
        conn.execute(text("CHECKPOINT"))


def measure_size(complaints: int) -> dict[str, dict[str, Timing | None]]:
    """Timings of every job on the database with ``complaints`` complaints."""
    engine = bench_engine(SIZES[complaints])
    ensure_demo_data(engine, complaints)
    prepare(engine)
    console.print(f"Measuring on {complaints:,} complaints…")
    with TestClient(create_app(bench_settings(SIZES[complaints]), engine)) as client:
        return {name: {"api": measure(api_job, repeat=3),
                       "same": measure(same, repeat=3) if same else None,
                       "naive": measure(naive_job, repeat=1, warmup=0) if naive_job else None}
                for name, (api_job, same, naive_job) in job_list(Api(client), engine).items()}


def main() -> None:
    start = time.perf_counter()
    results = {complaints: measure_size(complaints) for complaints in SIZES}
    big, small = results[1_000_000], results[100_000]
    print_table(
        "Analytics, 1M complaints (median s; API: GraphQL over HTTP in process)",
        ["job", "API", "same SQL", "API/same", "naive SQL", "naive/API"],
        [(name, t["api"].median, _median(t["same"]), _ratio(t["api"], t["same"]),
          _median(t["naive"]), _ratio(t["naive"], t["api"])) for name, t in big.items()])
    print_table(
        "Scaling, 100k → 1M complaints (API, median s)",
        ["job", "100k", "1M", "1M/100k"],
        [(name, small[name]["api"].median, t["api"].median,
          t["api"].median / small[name]["api"].median) for name, t in big.items()])
    console.print(f"analytics benchmark: {time.perf_counter() - start:.0f} s")


def _median(timing: Timing | None) -> float | str:
    return "–" if timing is None else timing.median


def _ratio(a: Timing | None, b: Timing | None) -> float | str:
    return "–" if a is None or b is None else a.median / b.median
