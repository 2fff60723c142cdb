"""KPIs and choropleths against hand computations over the same rows (numpy, shapely, esda)."""

import asyncio
from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
from esda.smoothing import Empirical_Bayes
from sqlalchemy import Engine, event, text
from starlette.testclient import TestClient

from analytics import kpi
from app import create_app
from demo.seed import seed_boundaries
from settings import Settings
from tests.analytics_support import insert_complaints, scratch_database
from tests.conftest import Demo, GraphQLClient, StatementCounter

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
PROCESSED = {"RESOLVED", "REJECTED", "DUPLICATE", "CLOSED"}
KPI_FIELDS = """received processed processedRate rated satisfiedRate overdue processedLate
    medianHoursToFirstAction p90HoursToFirstAction medianHoursToResolution
    p90HoursToResolution"""
STATS = f"""query($from: DateTime, $to: DateTime, $area: String, $category: String,
                 $filter: ComplaintFilter, $interval: SeriesInterval!) {{
  stats(from: $from, to: $to, area: $area, category: $category, filter: $filter) {{
    asOf
    summary {{ {KPI_FIELDS} }}
    byCategory {{ code rank kpi {{ {KPI_FIELDS} }} }}
    byDistrict {{ code rank kpi {{ {KPI_FIELDS} }} }}
    byWard {{ code rank kpi {{ received processed }} }}
    series(interval: $interval) {{ start kpi {{ received processed processedRate rated
                                                satisfiedRate overdue processedLate }} }}
  }}
}}"""


def complaint_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text("""
            SELECT c.created_at, c.status, c.rating, c.first_action_at, c.resolved_at, c.due_at,
                   c.category_code, w.code AS ward, d.code AS district
            FROM complaint c LEFT JOIN admin_area w ON w.id = c.ward_id
            LEFT JOIN admin_area d ON d.id = c.district_id""")))


def iso(moment: datetime) -> str:
    return moment.isoformat()


def hours(end: datetime | None, start: datetime) -> float | None:
    return None if end is None else (end - start).total_seconds() / 3600


def percentiles(values: list[float | None]) -> list[float | None]:
    present = [v for v in values if v is not None]
    return [float(v) for v in np.percentile(present, [50, 90])] if present else [None, None]


def hand_kpi(rows: list[Any], as_of: datetime, durations: bool = True) -> dict[str, Any]:
    processed = [r for r in rows if r.status in PROCESSED]
    rated = [r for r in rows if r.rating is not None]
    positive = [r for r in rated if r.rating in ("SATISFIED", "ACCEPTED")]
    figures: dict[str, Any] = {
        "received": len(rows), "processed": len(processed),
        "processedRate": len(processed) / len(rows) if rows else None,
        "rated": len(rated), "satisfiedRate": len(positive) / len(rated) if rated else None,
        "overdue": sum(r.status not in PROCESSED and r.due_at is not None and r.due_at < as_of
                       for r in rows),
        "processedLate": sum(r.resolved_at is not None and r.due_at is not None
                             and r.resolved_at > r.due_at for r in processed),
    }
    if durations:
        act = percentiles([hours(r.first_action_at, r.created_at) for r in rows])
        resolve = percentiles([hours(r.resolved_at, r.created_at) for r in processed])
        figures.update(medianHoursToFirstAction=act[0], p90HoursToFirstAction=act[1],
                       medianHoursToResolution=resolve[0], p90HoursToResolution=resolve[1])
    return figures


def assert_kpi(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        if value is None or isinstance(value, int):
            assert got[name] == value, name
        else:
            assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name


def ranks(counts: dict[str, int]) -> dict[str, int]:
    """Competition ranking by count, highest first (ties share the better rank)."""
    ordered = sorted(counts.values(), reverse=True)
    return {code: ordered.index(n) + 1 for code, n in counts.items()}


def month_starts(start: datetime, end: datetime) -> list[datetime]:
    first = start.astimezone(LOCAL).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    months = []
    while first < end:
        months.append(first)
        first = (first + timedelta(days=32)).replace(day=1)
    return months


@pytest.mark.parametrize("whole_days", [False, True])
def test_stats_equal_hand_computation_with_empty_months(
        gql: GraphQLClient, demo: Demo, engine: Engine, whole_days: bool,
        count_statements: StatementCounter) -> None:
    """Over any window (read from the complaints) and over whole days in the city (the counts
    and the durations' percentiles in total and per category read from the rollups, and per
    district and ward from the rollups per area, read once for both levels; the durations in
    total and per category, from one read of their histograms, and the counts in total summed
    from the categories')."""
    start, end = demo.now - timedelta(days=500), demo.now + timedelta(seconds=1)
    if whole_days:
        start, end = (datetime.combine(moment.astimezone(LOCAL).date(), time(), LOCAL)
                      for moment in (start, end + timedelta(days=1)))
    result = gql.data(STATS, {"from": iso(start), "to": iso(end), "interval": "MONTH"})["stats"]
    packed_reads = [s for s in count_statements.statements
                    if "complaint_area_duration_values" in s]
    assert len(packed_reads) == (2 if whole_days else 0)  # one per duration
    # The summary's durations and the categories' from one read of their histograms.
    histogram_reads = [s for s in count_statements.statements
                       if "complaint_duration_rollup" in s]
    assert len(histogram_reads) == (1 if whole_days else 0)
    # Then the summary's counts are the categories' summed, never read on their own.
    total_reads = [s for s in count_statements.statements if "SELECT 0 AS key" in s]
    assert bool(total_reads) == (not whole_days)
    as_of = datetime.fromisoformat(result["asOf"])
    rows = [r for r in complaint_rows(engine) if start <= r.created_at < end]
    assert len(rows) >= 3_000
    assert_kpi(result["summary"], hand_kpi(rows, as_of))

    categories = [c["code"] for c in result["byCategory"]]
    assert len(categories) == 15  # every category, empty ones too
    expected_counts = {code: sum(r.category_code == code for r in rows) for code in categories}
    assert {c["code"]: c["rank"] for c in result["byCategory"]} == ranks(expected_counts)
    for row in result["byCategory"]:
        assert_kpi(row["kpi"], hand_kpi([r for r in rows if r.category_code == row["code"]],
                                        as_of))
    assert [c["kpi"]["received"] for c in result["byCategory"]] == sorted(
        expected_counts.values(), reverse=True)

    districts = sorted(a.code for a in demo.areas("demo-2025", "district"))
    assert sorted(d["code"] for d in result["byDistrict"]) == districts
    for row in result["byDistrict"]:
        assert_kpi(row["kpi"], hand_kpi([r for r in rows if r.district == row["code"]], as_of))
    wards = {a.code for a in demo.areas("demo-2025", "ward")}
    assert {w["code"] for w in result["byWard"]} == wards  # empty wards listed too
    # Each ward's own complaints (other tests may add some outside every ward).
    assert {w["code"]: w["kpi"]["received"] for w in result["byWard"]} == {
        code: sum(r.ward == code for r in rows) for code in wards}

    months = month_starts(start, end)
    assert [datetime.fromisoformat(p["start"]) for p in result["series"]] == months
    assert result["series"][0]["kpi"]["received"] == 0  # before the first complaint
    for point, month_start in zip(result["series"], months, strict=True):
        month_end = (month_start + timedelta(days=32)).replace(day=1)
        in_month = [r for r in rows if month_start <= r.created_at < month_end]
        assert_kpi(point["kpi"], hand_kpi(in_month, as_of, durations=False))


@pytest.mark.parametrize("workers", [0, 3])
def test_the_statistics_statements_run_with_the_parallel_workers_set(
        settings: Settings, engine: Engine, demo: Demo, workers: int) -> None:
    """Every statement of a statistics request's figures runs with
    ``PHANANH_STATS_PARALLEL_WORKERS`` parallel workers at most (asked on its connection just
    before it runs), and the setting ends with the request's transactions."""
    with engine.connect() as conn:
        default = conn.exec_driver_sql("SHOW max_parallel_workers_per_gather").scalar_one()
    assert default != str(workers)  # else the test could not tell
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "AS received" in statement or "percentile_cont" in statement:  # the figures
            with cursor.connection.cursor() as probe:
                probe.execute("SHOW max_parallel_workers_per_gather")
                seen.append(probe.fetchone()[0])

    start = datetime.combine((demo.now - timedelta(days=400)).astimezone(LOCAL).date(), time(),
                             LOCAL)
    variables = {"from": iso(start), "to": iso(demo.now), "interval": "MONTH"}
    event.listen(engine, "before_cursor_execute", record)
    try:
        app = create_app(settings.model_copy(update={"stats_parallel_workers": workers}), engine)
        with TestClient(app) as client:
            GraphQLClient(client).data(STATS, variables)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(seen) >= 5 and set(seen) == {str(workers)}
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW max_parallel_workers_per_gather").scalar_one() == default


def test_stats_of_an_area_and_category(gql: GraphQLClient, demo: Demo, engine: Engine) -> None:
    district = sorted(a.code for a in demo.areas("demo-2025", "district"))[3]
    category = "environment.waste"
    result = gql.data(STATS, {"area": district, "category": category,
                              "interval": "WEEK"})["stats"]
    as_of = datetime.fromisoformat(result["asOf"])
    rows = [r for r in complaint_rows(engine)
            if r.district == district and r.category_code == category]
    assert rows
    assert_kpi(result["summary"], hand_kpi(rows, as_of))
    assert [c["code"] for c in result["byCategory"]] == [category]
    assert [d["code"] for d in result["byDistrict"]] == [district]
    wards = {a.code for a in demo.areas("demo-2025", "ward") if a.parent_code == district}
    assert {w["code"] for w in result["byWard"]} == wards
    weeks = [datetime.fromisoformat(p["start"]) for p in result["series"]]
    assert all(w.weekday() == 0 and w.hour == 0 and w.utcoffset() == timedelta(hours=7)
               for w in weeks)
    assert sum(p["kpi"]["received"] for p in result["series"]) == len(rows)
    assert weeks[0] <= min(r.created_at for r in rows) < weeks[0] + timedelta(days=7)


def test_stats_of_an_empty_period(gql: GraphQLClient, demo: Demo) -> None:
    result = gql.data(STATS, {"from": "2001-01-01T00:00:00+07:00",
                              "to": "2001-04-01T00:00:00+07:00", "interval": "MONTH"})["stats"]
    assert result["summary"] == {
        "received": 0, "processed": 0, "processedRate": None, "rated": 0,
        "satisfiedRate": None, "overdue": 0, "processedLate": 0,
        "medianHoursToFirstAction": None, "p90HoursToFirstAction": None,
        "medianHoursToResolution": None, "p90HoursToResolution": None}
    assert len(result["byCategory"]) == 15
    assert all(c["rank"] == 1 and c["kpi"]["received"] == 0 for c in result["byCategory"])
    assert len(result["byDistrict"]) == len(demo.areas("demo-2025", "district"))
    assert [p["start"] for p in result["series"]] == [
        "2001-01-01T00:00:00+07:00", "2001-02-01T00:00:00+07:00", "2001-03-01T00:00:00+07:00"]
    assert all(p["kpi"]["received"] == 0 and p["kpi"]["processedRate"] is None
               for p in result["series"])


def test_stats_refuse_bad_arguments(gql: GraphQLClient) -> None:
    assert gql.error_code(STATS, {"area": "NOPE", "interval": "MONTH"}) == "NOT_FOUND"
    backwards = {"from": "2024-01-01T00:00:00Z", "to": "2023-01-01T00:00:00Z", "interval": "DAY"}
    assert gql.error_code(STATS, backwards) == "BAD_INPUT"
    long = {"from": "1900-01-01T00:00:00Z", "to": "2024-01-01T00:00:00Z", "interval": "DAY"}
    assert gql.error_code(STATS, long) == "ANALYSIS_TOO_LARGE"
    zone = """{ stats { series(timeZone: "Mars/Olympus") { start } } }"""
    assert gql.error_code(zone) == "BAD_INPUT"


AREA_STATS = """query($level: AreaLevelChoice!, $generation: String, $filter: ComplaintFilter) {
  areaStats(level: $level, generation: $generation, filter: $filter) {
    total
    areas { code count perKm2 per10kResidents per10kResidentsSmoothed area { areaKm2 } }
    featureCollection(simplify: 100)
  }
}"""


def lowest_code_owner(areas: list[Any], lons: np.ndarray, lats: np.ndarray) -> Counter:
    """Complaints per area: the lowest code among the areas covering each point."""
    ordered = sorted(areas, key=lambda a: a.code)
    tree = shapely.STRtree([a.geometry for a in ordered])
    owner: dict[int, int] = {}
    for point, area in zip(*tree.query(shapely.points(lons, lats), predicate="covered_by"),
                           strict=True):
        owner[int(point)] = min(owner.get(int(point), len(ordered)), int(area))
    return Counter(ordered[a].code for a in owner.values())


@pytest.mark.parametrize(("level", "generation"), [("WARD", None), ("WARD", "demo-2019"),
                                                   ("DISTRICT", None)])
def test_area_stats_equal_hand_computation(gql: GraphQLClient, demo: Demo, engine: Engine,
                                           level: str, generation: str | None) -> None:
    window = {"createdFrom": iso(demo.now - timedelta(days=200)),
              "categories": ["environment.waste", "traffic.encroachment", "public.order"]}
    result = gql.data(AREA_STATS, {"level": level, "generation": generation,
                                   "filter": window})["areaStats"]
    with engine.connect() as conn:
        points = list(conn.execute(text(
            "SELECT ST_X(location), ST_Y(location) FROM complaint "
            "WHERE created_at >= :start AND category_code = ANY(:categories)"),
            {"start": demo.now - timedelta(days=200), "categories": window["categories"]}))
    lons, lats = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    areas = sorted(demo.areas(generation or "demo-2025", level.lower()), key=lambda a: a.code)
    counts = lowest_code_owner(areas, lons, lats)
    assert [a["code"] for a in result["areas"]] == [a.code for a in areas]
    assert [a["count"] for a in result["areas"]] == [counts.get(a.code, 0) for a in areas]
    assert result["total"] == len(points)
    population = np.array([a.population for a in areas])
    events = np.array([counts.get(a.code, 0) for a in areas])
    smoothed = Empirical_Bayes(events, population).r.ravel() * 10_000
    for got, area, rate in zip(result["areas"], areas, smoothed, strict=True):
        assert got["perKm2"] == pytest.approx(got["count"] / got["area"]["areaKm2"])
        assert got["per10kResidents"] == pytest.approx(10_000 * got["count"] / area.population)
        assert got["per10kResidentsSmoothed"] == pytest.approx(rate, rel=1e-9)
    features = result["featureCollection"]["features"]
    assert [f["properties"]["count"] for f in features] == [a["count"] for a in result["areas"]]
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)


def test_area_stats_of_nothing_are_zero(gql: GraphQLClient, demo: Demo) -> None:
    window = {"createdFrom": "2001-01-01T00:00:00Z", "createdTo": "2001-01-02T00:00:00Z"}
    result = gql.data(AREA_STATS, {"level": "DISTRICT", "filter": window})["areaStats"]
    assert result["total"] == 0
    assert len(result["areas"]) == len(demo.areas("demo-2025", "district"))
    assert all(a["count"] == 0 and a["perKm2"] == 0 and a["per10kResidentsSmoothed"] == 0
               for a in result["areas"])
    assert gql.error_code(AREA_STATS, {"level": "WARD", "generation": "nope"}) == "NOT_FOUND"


def shared_vertices(areas: list[Any], limit: int) -> list[tuple[float, float]]:
    """Vertices on the common boundary of two adjacent areas: each is covered by both."""
    tree = shapely.STRtree([a.geometry for a in areas])
    points: list[tuple[float, float]] = []
    for area in areas:
        for j in tree.query(area.geometry, predicate="touches"):
            edge = area.geometry.boundary.intersection(areas[j].geometry.boundary)
            points.extend(map(tuple, shapely.get_coordinates(edge)[::7].tolist()))
        if len(points) >= limit:
            break
    return points[:limit]


def test_points_on_shared_area_edges_count_once_in_the_lowest_code(demo: Demo) -> None:
    """Unrouted complaints exactly on ward boundaries, placed by location in both generations
    (the in-force one point by point, the older one by a join): once each, lowest code."""
    with scratch_database() as (engine, gql):
        seed_boundaries(engine, demo.generations)
        for generation in ("demo-2025", "demo-2019"):
            wards = sorted(demo.areas(generation, "ward"), key=lambda a: a.code)
            points = shared_vertices(wards, 300)
            lons, lats = np.array(points).T
            assert all(sum(w.geometry.covers(shapely.Point(p)) for w in wards) >= 2
                       for p in points[:30])
            insert_complaints(engine, lons, lats, category=CATEGORY[generation])
            result = gql.data(AREA_STATS, {"level": "WARD", "generation": generation,
                                           "filter": {"categories": [CATEGORY[generation]]}})
            counts = lowest_code_owner(wards, lons, lats)
            got = {a["code"]: a["count"] for a in result["areaStats"]["areas"]}
            assert got == {w.code: counts.get(w.code, 0) for w in wards}
            assert sum(got.values()) == len(points)


CATEGORY = {"demo-2025": "public.trees", "demo-2019": "public.water"}


def test_the_area_breakdowns_percentiles_run_off_the_event_loop(
        gql: GraphQLClient, demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over whole days, the district and ward breakdowns' percentiles (thousands of areas
    nationally, the longest step done in Python) run in worker threads, each duration's in
    the thread that read its values: the event loop serves other requests meanwhile, and the
    two durations' reads and selections run at once, on connections of their own."""
    real, threads = kpi._level_percentiles, []

    def recording(*args: Any) -> Any:
        try:
            asyncio.get_running_loop()
            threads.append("event loop")
        except RuntimeError:
            threads.append("worker")
        return real(*args)

    monkeypatch.setattr(kpi, "_level_percentiles", recording)
    end = datetime.combine(demo.now.astimezone(LOCAL).date(), time(), LOCAL)
    result = gql.data(STATS, {"from": iso(end - timedelta(days=400)), "to": iso(end),
                              "interval": "MONTH"})
    assert result["stats"]["byWard"] and result["stats"]["byDistrict"]
    assert threads == ["worker"] * 4  # two durations × two levels, none on the loop
