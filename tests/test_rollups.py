"""The rollups (migrations 0013, 0017, 0021, 0022, 0025, 0028, 0029 and 0030) equal the raw
computation after every kind of write.

The references are computed here, in Python, from the complaints and their stored placements
(``complaint_area``): the placing rule of ``analytics/areas.py`` (routed area if it belongs to
the generation, else the covering one), the city's calendar (zoneinfo), and for the grid
rollup the cell of each complaint's UTM coordinates found by brute force (the nearest hexagon
centre, the square that covers it; ``tests/analytics_support.py``). Both rollup tables must
equal them row for row after a seed COPY, submissions, status changes, reroutes, transfers,
category corrections, ratings, due times, moves and a boundary re-import, and equal what
``rebuild_rollups()`` recounts; ``areaStats``, ``grid``, hot spots (Gi* over grid cells and
wards, emerging hot spots per month) and the statistics' counts (in total, per category, per
month, per routed district and ward) read from the rollups must equal the same analyses over
the complaints, and the durations' medians and 90th percentiles found from their histograms
(per area: from the complaints in area order) must equal numpy's over the durations themselves
and, to the last bit, PostgreSQL's sort of them; the breakdowns by district and ward, every
figure, equal the one statement over the complaints. Its own database: the re-import changes
the demo city.
"""

import json
import math
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from shapely.geometry import mapping
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from analytics import area_durations, kpi
from analytics import durations as histograms
from analytics.areas import count_by_area
from analytics.grid import Grid, Shape, count_cells, rolled_up
from analytics.hotspots import Unit, Weights, space_time
from analytics.periods import Calendar, Period
from analytics.rollups import (
    Days,
    area_counts,
    area_kpi_rows,
    bypassed,
    day_steps,
    duration_rows,
    each_month,
    grid_counts,
    month_split,
    month_steps,
    whole_days,
)
from app import create_app
from auth import users
from auth.principal import Role
from auth.tokens import issue_token
from db.complaints import ComplaintFilter
from db.engine import make_engine
from demo.city import DemoGeneration, build_demo_city
from demo.complaints import generate_complaints
from demo.seed import seed_boundaries, seed_complaints, seed_organisation
from geo.boundaries import BoundaryFile, import_boundaries
from settings import Settings
from tests.analytics_support import brute_force_hex, brute_force_square
from tests.conftest import fresh_database, phananh
from tests.plans import executed_plans, scan_conditions, scan_index, scan_nodes
from workflow import routing, service
from workflow.submission import FootprintRules, Submission, submit

CITY = ZoneInfo("Asia/Ho_Chi_Minh")
COMPLAINTS = 1_200


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Engine, tuple[DemoGeneration, ...], TestClient, dict[str, str]]]:
    for url in fresh_database():
        engine = make_engine(url)
        generations = build_demo_city()
        seed_boundaries(engine, generations)
        seed_organisation(engine, generations)
        outline = next(a for a in generations[-1].areas if a.level == "city").geometry
        seed_complaints(engine, generate_complaints(COMPLAINTS, outline, seed=11,
                                                    now=datetime.now(UTC)), COMPLAINTS)
        with engine.begin() as conn:
            users.add_user(conn, "admin", Role.CITY_ADMIN)
            token = issue_token(conn, "admin")
        settings = Settings(database_url=url, submissions_per_minute_per_client=10_000)
        with TestClient(create_app(settings, engine)) as client:
            yield engine, generations, client, {"Authorization": f"Bearer {token}"}
        engine.dispose()


def expected(engine: Engine) -> Counter[tuple[Any, ...]]:
    """(generation, level, area, day, category, status) → complaints, computed here."""
    with engine.connect() as conn:
        complaints = conn.execute(text("SELECT id, ward_id, district_id, created_at, "
                                       "category_code, status FROM complaint")).all()
        placed = {(r.generation_id, r.level, r.complaint_id): r.area_id for r in conn.execute(
            text("SELECT generation_id, level, complaint_id, area_id FROM complaint_area"))}
        areas = {r.id: (r.generation_id, r.level) for r in conn.execute(
            text("SELECT id, generation_id, level FROM admin_area"))}
    pairs = {pair for pair in areas.values() if pair[1] in ("ward", "district")}
    counts: Counter[tuple[Any, ...]] = Counter()
    for c in complaints:
        day = c.created_at.astimezone(CITY).date()
        for generation, level in pairs:
            routed = c.ward_id if level == "ward" else c.district_id
            area = (routed if areas.get(routed) == (generation, level)
                    else placed.get((generation, level, c.id)))
            if area is not None:
                counts[generation, level, area, day, c.category_code, c.status] += 1
    return counts


def stored(engine: Engine) -> Counter[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT generation_id, level, area_id, day, category_code, "
                                 "status, complaints FROM complaint_rollup")).all()
    return Counter({tuple(r[:6]): r.complaints for r in rows})


def expected_months(areas: Counter[tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    """(generation, level, area, first day of the month) → complaints, from the reference of
    the daily area rollup."""
    months: Counter[tuple[Any, ...]] = Counter()
    for (generation, level, area, day, _, _), n in areas.items():
        months[generation, level, area, day.replace(day=1)] += n
    return months


def stored_counts(engine: Engine, table: str, key: str) -> Counter[tuple[Any, ...]]:
    """What the rollup ``table`` holds: its ``key`` columns → complaints."""
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {key}, complaints FROM {table}")).all()
    assert all(r.complaints > 0 for r in rows)  # a count that reached 0 is deleted
    return Counter({tuple(r[:-1]): r.complaints for r in rows})


def stored_months(engine: Engine) -> Counter[tuple[Any, ...]]:
    return stored_counts(engine, "complaint_month_rollup", "generation_id, level, area_id, month")


BRUTE_FORCE = {"HEXAGON": brute_force_hex, "SQUARE": brute_force_square}


def expected_grid(engine: Engine) -> Counter[tuple[Any, ...]]:
    """(shape, size, zone, day, (i, j), category, status) → complaints, computed here: each
    complaint in the cell of every standard grid laid out in its own UTM zone."""
    with engine.connect() as conn:
        complaints = conn.execute(text("SELECT utm_epsg, utm_x, utm_y, created_at, "
                                       "category_code, status FROM complaint")).all()
        grids = conn.execute(text("SELECT shape, size_m FROM grid_rollup_size")).all()
    x = np.array([c.utm_x for c in complaints])
    y = np.array([c.utm_y for c in complaints])
    counts: Counter[tuple[Any, ...]] = Counter()
    for shape, size in grids:
        cells, clear = BRUTE_FORCE[shape](x, y, size)
        assert clear.all()  # no random point within a micrometre of an edge
        for c, cell in zip(complaints, cells, strict=True):
            counts[shape, size, c.utm_epsg, c.created_at.astimezone(CITY).date(), cell,
                   c.category_code, c.status] += 1
    return counts


def stored_grid(engine: Engine) -> Counter[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT shape, size_m, srid, day, cell >> 32 AS i,
                   (cell & 4294967295) - 2147483648 AS j, category_code, status, complaints
            FROM complaint_grid_rollup""")).all()
    assert all(r.complaints > 0 for r in rows)  # a count that reached 0 is deleted
    return Counter({(r.shape, r.size_m, r.srid, r.day, (r.i, r.j), r.category_code,
                     r.status): r.complaints for r in rows})


def expected_grid_months(grid: Counter[tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    """(shape, size, zone, first day of the month, (i, j)) → complaints, from the reference
    of the daily grid rollup."""
    months: Counter[tuple[Any, ...]] = Counter()
    for (shape, size, zone, day, cell, _, _), n in grid.items():
        months[shape, size, zone, day.replace(day=1), cell] += n
    return months


def stored_grid_months(engine: Engine) -> Counter[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT shape, size_m, srid, month, cell >> 32 AS i,
                   (cell & 4294967295) - 2147483648 AS j, complaints
            FROM complaint_grid_month_rollup""")).all()
    assert all(r.complaints > 0 for r in rows)  # a count that reached 0 is deleted
    return Counter({(r.shape, r.size_m, r.srid, r.month, (r.i, r.j)): r.complaints
                    for r in rows})


def expected_kpi(engine: Engine, *areas: str) -> Counter[tuple[Any, ...]]:
    """(day, category, status, rating, then the routed ``areas`` (district_id, ward_id) if
    asked, "complaints" or "late") → count, computed here."""
    columns = ", ".join(("created_at, category_code, status, rating", *areas))
    with engine.connect() as conn:
        complaints = conn.execute(text(f"SELECT {columns}, resolved_at, due_at "
                                       "FROM complaint")).all()
    counts: Counter[tuple[Any, ...]] = Counter()
    for c in complaints:
        key = (c.created_at.astimezone(CITY).date(), c.category_code, c.status, c.rating,
               *(getattr(c, area) for area in areas))
        counts[*key, "complaints"] += 1
        late = c.resolved_at is not None and c.due_at is not None and c.resolved_at > c.due_at
        counts[*key, "late"] += int(late)
    return +counts  # zero counts dropped, as in stored_kpi


def stored_kpi(engine: Engine, table: str = "complaint_kpi_rollup", *areas: str,
               key: str = "day, category_code, status, rating") -> Counter[tuple[Any, ...]]:
    """What ``table`` holds, keyed as :func:`expected_kpi` with the same ``areas`` (or by
    ``key`` then the areas)."""
    columns = [*key.split(", "), *areas]
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {', '.join(columns)}, complaints, late "
                                 f"FROM {table}")).all()
    assert all(r.complaints > 0 for r in rows)  # a count that reached 0 is deleted
    width = len(columns)
    return +Counter({**{(*r[:width], "complaints"): r.complaints for r in rows},
                     **{(*r[:width], "late"): r.late for r in rows}})


AREA_KPI = ("complaint_area_kpi_rollup", "district_id", "ward_id")


def expected_area_kpi(engine: Engine) -> Counter[tuple[Any, ...]]:
    return expected_kpi(engine, *AREA_KPI[1:])


def stored_area_kpi(engine: Engine) -> Counter[tuple[Any, ...]]:
    return stored_kpi(engine, *AREA_KPI)


MONTH_SUMS = ("received", "processed", "rated", "positive", "processed_late")


def expected_area_kpi_months(days: Counter[tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    """(month, district_id, ward_id, sum) → the five sums of :func:`expected_area_kpi`'s
    counts per month and routed area, by the README's rules (a rule changed without a
    migration recounting the table fails here)."""
    months: Counter[tuple[Any, ...]] = Counter()
    for (day, _, status, rating, district, ward, counted), n in days.items():
        key = (day.replace(day=1), district, ward)
        processed = status in PROCESSED
        if counted == "late":
            months[*key, "processed_late"] += n * processed
            continue
        months[*key, "received"] += n
        months[*key, "processed"] += n * processed
        months[*key, "rated"] += n * (rating is not None)
        months[*key, "positive"] += n * (rating in POSITIVE)
    return +months


def stored_area_kpi_months(engine: Engine) -> Counter[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT month, district_id, ward_id, {', '.join(MONTH_SUMS)} "
                                 "FROM complaint_area_kpi_month_rollup")).all()
    assert all(r.received > 0 for r in rows)  # a row that reached 0 is deleted
    return +Counter({(r.month, r.district_id, r.ward_id, name): getattr(r, name)
                     for r in rows for name in MONTH_SUMS})


def expected_due(engine: Engine) -> Counter[tuple[Any, ...]]:
    """(day received, category, status, day due) → complaints with a due time, computed
    here."""
    with engine.connect() as conn:
        complaints = conn.execute(text("SELECT created_at, category_code, status, due_at "
                                       "FROM complaint WHERE due_at IS NOT NULL")).all()
    return Counter((c.created_at.astimezone(CITY).date(), c.category_code, c.status,
                    c.due_at.astimezone(CITY).date()) for c in complaints)


def stored_due(engine: Engine) -> Counter[tuple[Any, ...]]:
    return stored_counts(engine, "complaint_due_rollup", "day, category_code, status, due_day")


def expected_area_due(engine: Engine) -> Counter[tuple[Any, ...]]:
    """(month received, district_id, ward_id, month due) → the open complaints with a due
    time, by the README's rule of which statuses are open (a rule changed without a migration
    recounting the table fails here)."""
    with engine.connect() as conn:
        complaints = conn.execute(text("SELECT created_at, district_id, ward_id, status, due_at "
                                       "FROM complaint WHERE due_at IS NOT NULL")).all()
    return Counter((c.created_at.astimezone(CITY).date().replace(day=1), c.district_id,
                    c.ward_id, c.due_at.astimezone(CITY).date().replace(day=1))
                   for c in complaints if c.status in OPEN)


def stored_area_due(engine: Engine) -> Counter[tuple[Any, ...]]:
    return stored_counts(engine, "complaint_area_due_rollup",
                         "month, district_id, ward_id, due_month")


def check_kpis(engine: Engine) -> None:
    """The statistics' counts in total, per category, per month, per district and per ward,
    read from the rollups (per area, whole months from the monthly one; overdue from the
    rollup of due days, per area from the open complaints), equal the same counts over the
    complaints, for windows with either kind of edge; and the district and ward breakdowns,
    every figure, equal those of the one statement over the complaints that answers a filter
    the rollups cannot."""
    assert stored_kpi(engine) == expected_kpi(engine)
    area_days = expected_area_kpi(engine)
    assert stored_area_kpi(engine) == area_days
    assert stored_area_kpi_months(engine) == expected_area_kpi_months(area_days)
    assert stored_due(engine) == expected_due(engine)
    assert stored_area_due(engine) == expected_area_due(engine)
    as_of = datetime.now(UTC)
    today = datetime.now(CITY).date()
    with engine.connect() as conn:
        for f in [*whole_day_filters(), *month_edge_filters(), *open_edge_filters()]:
            months = Calendar(Period.MONTH, f.created_from or city_midnight(date(2020, 1, 1)),
                              f.created_to or city_midnight(today + timedelta(days=1)))
            starts = months.starts(conn)
            for by in (kpi.By.ALL, kpi.By.CATEGORY, kpi.By.PERIOD, kpi.By.DISTRICT,
                       kpi.By.WARD):
                rolled = kpi.rolled_counts(conn, f, by, as_of, starts)
                assert rolled is not None
                with bypassed():
                    raw = kpi.part(conn, f, by, kpi.Part.COUNTS, as_of, starts)
                assert kpi.figures(rolled) == kpi.figures(raw), (f, by)
                assert sum(k.received for k in kpi.figures(raw).values()) > 0
            # Both levels from the parts per routed pair, when the rollups answer them all.
            shared = kpi.routed_answers(f)
            assert shared == (not f.categories and not f.statuses)
            parts = ([kpi.routed(conn, f, part, as_of) for part in kpi.ROUTED_PARTS]
                     if shared else [])
            for by in (kpi.By.DISTRICT, kpi.By.WARD):
                assert kpi.parts_for(by, f) == (kpi.Part.COUNTS, kpi.Part.DURATIONS)
                breakdown = kpi.figures(*(kpi.part(conn, f, by, part, as_of)
                                          for part in kpi.parts_for(by, f)))
                with bypassed():
                    assert kpi.parts_for(by, f) == (kpi.Part.ALL,)
                    raw = kpi.part(conn, f, by, kpi.Part.ALL, as_of)
                assert breakdown == kpi.figures(raw), (f, by)
                assert any(k.hours_to_resolution[0] is not None for k in breakdown.values())
                if shared:
                    assert kpi.at_level(parts, by) == breakdown, (f, by)


# README, "Statistics definitions"
PROCESSED = {"RESOLVED", "REJECTED", "DUPLICATE", "CLOSED"}
POSITIVE = {"SATISFIED", "ACCEPTED"}


def duration_bucket(hours: float, fine: bool = False) -> int:
    """The bucket of migration 0025 (``fine``: of 0038), computed here: the float's 64 bits, a
    negative one's magnitude bits flipped so that they sort as the values do, less the 47 (44)
    last."""
    bits = struct.unpack(">q", struct.pack(">d", hours))[0]
    return (bits ^ 0x7FFFFFFFFFFFFFFF if bits < 0 else bits) >> (44 if fine else 47)


def durations(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT created_at, category_code, status, "
                                      "hours_to_first_action, hours_to_resolution, "
                                      "district_id, ward_id FROM complaint")))


Histograms = tuple[Counter[tuple[Any, ...]], ...]  # the coarse one, the fine one
HISTOGRAM_TABLES = ("complaint_duration_rollup", "complaint_duration_fine_rollup")


def expected_durations(engine: Engine) -> Histograms:
    """(month, category, measure, status, bucket) → durations, computed here, in the coarse
    buckets and in the fine ones: the first action of every complaint that has one, the
    resolution of those resolved with their status."""
    histograms: Histograms = (Counter(), Counter())
    for c in durations(engine):
        month = c.created_at.astimezone(CITY).date().replace(day=1)
        for counts, fine in zip(histograms, (False, True), strict=True):
            if c.hours_to_first_action is not None:
                counts[month, c.category_code, "first_action", None,
                       duration_bucket(c.hours_to_first_action, fine)] += 1
            if c.hours_to_resolution is not None:
                counts[month, c.category_code, "resolution", c.status,
                       duration_bucket(c.hours_to_resolution, fine)] += 1
    return histograms


def stored_durations(engine: Engine) -> Histograms:
    """The histograms as their rollups hold them, coarse and fine."""
    histograms = []
    with engine.connect() as conn:
        for table in HISTOGRAM_TABLES:
            rows = conn.execute(text("SELECT month, category_code, measure, status, bucket, "
                                     f"complaints FROM {table}")).all()
            assert all(r.complaints > 0 for r in rows)  # a count that reached 0 is deleted
            histograms.append(Counter({tuple(r[:5]): r.complaints for r in rows}))
    return tuple(histograms)


def expected_area_values(engine: Engine) -> Counter[tuple[Any, ...]]:
    """(measure, month, status, district, ward, hours) → how many times, computed here."""
    counts: Counter[tuple[Any, ...]] = Counter()
    for c in durations(engine):
        month = c.created_at.astimezone(CITY).date().replace(day=1)
        for measure, status, hours in (("first_action", None, c.hours_to_first_action),
                                       ("resolution", c.status, c.hours_to_resolution)):
            if hours is not None:
                counts[measure, month, status, c.district_id, c.ward_id, hours] += 1
    return counts


def stored_area_values(engine: Engine) -> Counter[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT measure, month, status, district_id, ward_id, hours "
                                 "FROM complaint_area_duration_values")).all()
    assert all(r.hours for r in rows)  # an emptied row is deleted
    return Counter((*r[:5], hours) for r in rows  # float8send's: 8 bytes each, big-endian
                   for (hours,) in struct.iter_unpack(">d", r.hours))


# Each grouping's key of a complaint, as the statistics group it.
GROUPS: dict[kpi.By, Callable[[Any], Any]] = {
    kpi.By.ALL: lambda c: 0, kpi.By.CATEGORY: lambda c: c.category_code,
    kpi.By.DISTRICT: lambda c: c.district_id, kpi.By.WARD: lambda c: c.ward_id}


def hand_percentiles(rows: list[Any], by: kpi.By) -> dict[Any, dict[str, list[float]]]:
    """{group key: {measure: [median, p90]}} by numpy (linear interpolation)."""
    values: dict[Any, dict[str, list[float]]] = {}
    for c in rows:
        group = values.setdefault(GROUPS[by](c), {})
        if c.hours_to_first_action is not None:
            group.setdefault("first_action", []).append(c.hours_to_first_action)
        if c.hours_to_resolution is not None and c.status in PROCESSED:
            group.setdefault("resolution", []).append(c.hours_to_resolution)
    return {key: {name: list(np.percentile(v, [50, 90])) for name, v in group.items()}
            for key, group in values.items() if group}


def check_durations(engine: Engine) -> None:
    """The histograms and the durations packed per area equal their references; the
    percentiles found from them equal numpy's over the matching complaints' durations, and
    PostgreSQL's sort exactly."""
    assert stored_durations(engine) == expected_durations(engine)
    assert stored_area_values(engine) == expected_area_values(engine)
    rows = durations(engine)
    today = datetime.now(CITY).date()
    one_category = ComplaintFilter(categories=["environment.waste", "construction.illegal"],
                                   created_from=city_midnight(today - timedelta(days=200)))
    as_of = datetime.now(UTC)
    with engine.connect() as conn:
        for f in [*whole_day_filters()[:2], one_category, *month_edge_filters()]:
            chosen = [c for c in rows if (f.created_from is None or c.created_at >= f.created_from)
                      and (f.created_to is None or c.created_at < f.created_to)
                      and (not f.categories or c.category_code in f.categories)]
            both: dict[Any, dict[str, list[float]]] = {}
            for by, parts in ((kpi.By.ALL, (kpi.Part.FIRST_ACTION, kpi.Part.RESOLUTION)),
                              (kpi.By.CATEGORY, (kpi.Part.DURATIONS,))):
                rolled: dict[Any, dict[str, list[float]]] = {}
                for part in parts:
                    found = kpi.rolled_durations(conn, f, by, part)
                    assert found is not None
                    # Buckets this small are read whole; read a fine bucket at a time, the same.
                    with mock.patch.object(histograms, "REFINED_ABOVE", 0):
                        assert kpi.rolled_durations(conn, f, by, part) == found, (f, by)
                    for key, measures in found.items():
                        rolled.setdefault(key, {}).update(measures)
                    with bypassed():
                        raw = kpi.part(conn, f, by, part, as_of)
                    assert {key: {name: v for name, v in r.items() if name != "key" and v}
                            for key, r in raw.items()} == {key: dict(m) for key, m in found.items()}
                hand = hand_percentiles(chosen, by)
                assert rolled.keys() == hand.keys() and len(hand) > 0
                for key, measures in hand.items():
                    assert rolled[key] == {name: pytest.approx(v, rel=1e-12)
                                           for name, v in measures.items()}, (f, by, key)
                both.update(rolled)
            # The summary's and the categories' from one read: the same figures, no others.
            assert kpi.shared_durations_answer(f)
            assert kpi.total_and_category_durations(conn, f) == both
            for by in (kpi.By.DISTRICT, kpi.By.WARD):  # per area: packed, without categories
                hand = hand_percentiles(chosen, by)
                assert len(hand) > 1
                with bypassed():
                    raw = kpi.part(conn, f, by, kpi.Part.DURATIONS, as_of)
                sorted_hours = {key: {name: r[name] for name in ("first_action", "resolution")
                                      if r[name]} for key, r in raw.items()
                                if r["first_action"] or r["resolution"]}
                assert sorted_hours == {
                    key: {name: pytest.approx(v, rel=1e-12) for name, v in measures.items()}
                    for key, measures in hand.items()}, (f, by)
                found = kpi.rolled_durations(conn, f, by, kpi.Part.DURATIONS)
                assert (found is None) == bool(f.categories)
                if found is not None:
                    assert {key: dict(m) for key, m in found.items()} == sorted_hours, (f, by)


def city_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CITY)


def first_of_month(months_ago: int) -> date:
    today = datetime.now(CITY).date()
    index = today.year * 12 + today.month - 1 - months_ago
    return date(index // 12, index % 12 + 1, 1)


def month_edge_filters() -> list[ComplaintFilter]:
    """A window whose edges are a few days each (from the 25th, to the 4th: read from the
    complaints), then one whose edges are most of their months (from the 3rd, to the 27th:
    each whole month less the days outside the window)."""
    return [ComplaintFilter(created_from=city_midnight(first_of_month(6) + timedelta(days=start)),
                            created_to=city_midnight(first_of_month(1) + timedelta(days=end)))
            for start, end in ((24, 3), (2, 26))]


def open_edge_filters() -> list[ComplaintFilter]:
    """The long edges of :func:`month_edge_filters`, each on a window open on the other side:
    the months counted and the month taken from are read apart."""
    long_edges = month_edge_filters()[1]
    return [ComplaintFilter(created_from=long_edges.created_from),
            ComplaintFilter(created_to=long_edges.created_to)]


def check(engine: Engine, generations: tuple[DemoGeneration, ...]) -> None:
    """Both rollups equal their references, and every analysis read from them equals the same
    analysis over the complaints, for whole-day filters on both generations and levels."""
    truth = expected(engine)
    assert stored(engine) == truth
    assert stored_months(engine) == expected_months(truth)
    grid = expected_grid(engine)
    assert stored_grid(engine) == grid
    assert stored_grid_months(engine) == expected_grid_months(grid)
    check_kpis(engine)
    check_durations(engine)
    with engine.connect() as conn:
        for f in [*whole_day_filters(), *month_edge_filters()]:
            assert whole_days(f) is not None
            for generation in (g.name for g in generations):
                for level in ("ward", "district"):
                    rolled = count_by_area(conn, f, level, generation)
                    raw = count_by_area(conn, f, level, generation, rollups=False)
                    assert rolled == raw, (f, generation, level)
            for shape, size in ((Shape.HEXAGON, 500.0), (Shape.SQUARE, 1000.0)):
                rolled_grid = count_cells(conn, f, shape, size, None, 100_000)
                assert rolled_grid is not None
                assert rolled_up(conn, f, rolled_grid.grid) is not None  # read from the rollup
                assert rolled_grid == count_cells(conn, f, shape, size, None, 100_000,
                                                  rollups=False), (f, shape, size)
    assert sum(truth.values()) > 0


def whole_day_filters() -> list[ComplaintFilter]:
    today = datetime.now(CITY).date()
    return [
        ComplaintFilter(),
        ComplaintFilter(created_from=city_midnight(today - timedelta(days=90)),
                        created_to=city_midnight(today + timedelta(days=1))),
        ComplaintFilter(categories=["environment.waste", "construction.illegal"],
                        statuses=["RECEIVED", "REJECTED", "CLOSED"],
                        created_from=city_midnight(today - timedelta(days=200))),
    ]


def check_hotspots(engine: Engine) -> None:
    """Gi* over grid cells and wards, over the whole window and per month in the city's
    calendar, is the same read from the rollups as over the complaints."""
    today = datetime.now(CITY).date()
    months = Calendar(Period.MONTH, city_midnight(today - timedelta(days=200)),
                      city_midnight(today + timedelta(days=1)))
    f = ComplaintFilter(created_from=months.start, created_to=months.end)
    with engine.connect() as conn:
        assert day_steps(months.starts(conn)) is not None  # months start at midnight
        for unit, weights, calendar in ((Unit.GRID, Weights(band_m=2_000.0), None),
                                        (Unit.GRID, Weights(band_m=3_000.0), months),
                                        (Unit.WARD, Weights(k=5), months)):
            def run(rollups: bool, unit: Unit = unit, weights: Weights = weights,
                    calendar: Calendar | None = calendar) -> Any:
                return space_time(conn, f, unit, weights, calendar, fdr=False,
                                  shape=Shape.HEXAGON, cell_size_m=800.0, rollups=rollups)

            rolled = run(True)
            assert sum(sum(u.counts) for u in rolled.units) > 0
            assert rolled == run(False), (unit, weights, calendar)


def test_rollups_follow_every_write(world: Any) -> None:
    engine, generations, client, admin = world
    check(engine, generations)  # after the seed COPY (and the migration's backfill)

    def gql(query: str) -> Any:
        body = client.post("/graphql", json={"query": query}, headers=admin).json()
        assert "errors" not in body, body
        return body["data"]

    for n in range(4):  # submissions
        gql(f"""mutation {{ submitComplaint(input: {{categoryCode: "environment.waste",
            description: "rollup {n}", lon: {105.80 + n * 0.02}, lat: 21.03}}) {{ id }} }}""")
    check(engine, generations)

    with engine.connect() as conn:
        open_ones = conn.execute(text(
            "SELECT public_id, version FROM complaint WHERE status = 'RECEIVED' "
            "ORDER BY id LIMIT 4")).all()
        wards = conn.execute(text(
            "SELECT a.code FROM admin_area a JOIN boundary_generation g ON g.id = a.generation_id "
            "WHERE g.name = 'demo-2025' AND a.level = 'ward' ORDER BY a.code DESC LIMIT 2")).all()
    for (public_id, version), (ward,) in zip(open_ones[:2], wards, strict=True):  # reroutes
        gql(f"""mutation {{ rerouteComplaint(id: "{public_id}", wardCode: "{ward}",
            reason: "test", expectedVersion: {version}) {{ id }} }}""")
    for public_id, version in open_ones[2:]:  # status changes
        gql(f"""mutation {{ transitionComplaint(id: "{public_id}", to: REJECTED,
            reason: NOT_RESPONSIBLE, expectedVersion: {version}) {{ id }} }}""")
    check(engine, generations)

    transferred = transfer_some(engine, gql)
    with engine.begin() as conn:  # category corrections, routed again for the new category
        for public_id in transferred:
            service.decide_category(conn, None, public_id, "construction.illegal", None, {})
    check(engine, generations)

    with engine.begin() as conn:  # ratings and due times, as closing and rerouting write them
        conn.execute(text("""
            UPDATE complaint SET status = 'CLOSED', rating = 'SATISFIED', rated_at = now()
            WHERE id IN (SELECT id FROM complaint WHERE status = 'RESOLVED'
                         ORDER BY id LIMIT 3)"""))
        conn.execute(text("""
            UPDATE complaint SET rating = 'UNSATISFIED'
            WHERE id = (SELECT min(id) FROM complaint WHERE rating = 'SATISFIED')"""))
        conn.execute(text("""
            UPDATE complaint SET due_at = resolved_at - interval '1 hour'
            WHERE id IN (SELECT id FROM complaint WHERE resolved_at IS NOT NULL
                         AND due_at > resolved_at ORDER BY id LIMIT 4)"""))
    check(engine, generations)

    with engine.begin() as conn:  # durations routed to another ward, or changed
        conn.execute(text("""
            UPDATE complaint c SET ward_id = w.id, district_id = w.parent_id
            FROM (SELECT id, parent_id FROM admin_area WHERE level = 'ward'
                  ORDER BY id DESC LIMIT 1) AS w
            WHERE c.id IN (SELECT id FROM complaint WHERE hours_to_resolution IS NOT NULL
                           ORDER BY id LIMIT 3)"""))
        conn.execute(text("""
            UPDATE complaint SET first_action_at = first_action_at + interval '90 minutes'
            WHERE id IN (SELECT id FROM complaint WHERE first_action_at IS NOT NULL
                         ORDER BY id DESC LIMIT 3)"""))
    check(engine, generations)

    with engine.begin() as conn:  # moves, one with its status and category in one statement
        conn.execute(text("""
            UPDATE complaint SET location = ST_Translate(location, 0.03, -0.02)
            WHERE id IN (SELECT id FROM complaint ORDER BY id DESC LIMIT 5)"""))
        conn.execute(text("""
            UPDATE complaint SET location = ST_Translate(location, -0.04, 0.01),
                                 status = 'CLOSED', category_code = 'construction.illegal'
            WHERE id = (SELECT min(id) FROM complaint)"""))
    check(engine, generations)

    reimport_with_one_ward_grown(engine, generations[0])
    check(engine, generations)
    check_hotspots(engine)


def transfer_some(engine: Engine, gql: Callable[[str], Any]) -> list[str]:
    """Two open complaints transferred to another agency serving their place; their ids."""
    with engine.connect() as conn:
        candidates = conn.execute(text("""
            SELECT c.public_id, c.version, c.agency_code, c.ward_id, c.district_id, c.city_id
            FROM complaint c WHERE c.status IN ('RECEIVED', 'ASSIGNED')
              AND c.category_code <> 'construction.illegal' AND c.agency_code IS NOT NULL
            ORDER BY c.id DESC LIMIT 20""")).all()
        agencies = conn.execute(text("SELECT code FROM agency WHERE retired_at IS NULL "
                                     "ORDER BY code")).scalars().all()
        moves = [(c, next(a for a in agencies if a != c.agency_code and routing.serves(
            conn, a, [i for i in (c.ward_id, c.district_id, c.city_id) if i is not None])))
                 for c in candidates][:2]
    assert len(moves) == 2
    for c, agency in moves:
        gql(f"""mutation {{ transferComplaint(id: "{c.public_id}", agencyCode: "{agency}",
            reason: "not ours", expectedVersion: {c.version}) {{ id }} }}""")
    return [c.public_id for c, _ in moves]


def test_rebuild_recounts_what_the_triggers_kept(world: Any) -> None:
    """After the writes above (kept by the triggers), ``phananh rollups rebuild`` (the
    ``rebuild_rollups()`` a seed ends with) recounts damaged tables to the very same rows."""
    engine, *_ = world
    kept = (stored(engine), stored_grid(engine), stored_kpi(engine), stored_grid_months(engine),
            stored_durations(engine), stored_area_kpi(engine), stored_months(engine),
            stored_due(engine), stored_area_values(engine), stored_area_kpi_months(engine),
            stored_area_due(engine))
    assert sum(kept[1].values()) > 0 and all(sum(h.values()) > 0 for h in kept[4]) and kept[10]
    with engine.begin() as conn:  # what writes with the triggers off would leave
        conn.execute(text("DELETE FROM complaint_rollup "
                          "WHERE day = (SELECT max(day) FROM complaint_rollup)"))
        conn.execute(text("UPDATE complaint_grid_rollup SET complaints = complaints + 1 "
                          "WHERE day = (SELECT min(day) FROM complaint_grid_rollup)"))
        conn.execute(text("DELETE FROM complaint_kpi_rollup "
                          "WHERE day = (SELECT max(day) FROM complaint_kpi_rollup)"))
        conn.execute(text("UPDATE complaint_grid_month_rollup SET complaints = complaints + 1 "
                          "WHERE month = (SELECT min(month) FROM complaint_grid_month_rollup)"))
        for table in HISTOGRAM_TABLES:
            conn.execute(text(f"DELETE FROM {table} "
                              f"WHERE month = (SELECT max(month) FROM {table})"))
        conn.execute(text("DELETE FROM complaint_area_kpi_rollup "
                          "WHERE day = (SELECT min(day) FROM complaint_area_kpi_rollup)"))
        conn.execute(text("UPDATE complaint_month_rollup SET complaints = complaints + 1 "
                          "WHERE month = (SELECT max(month) FROM complaint_month_rollup)"))
        conn.execute(text("DELETE FROM complaint_due_rollup "
                          "WHERE day = (SELECT max(day) FROM complaint_due_rollup)"))
        conn.execute(text("DELETE FROM complaint_area_kpi_month_rollup "
                          "WHERE month = (SELECT max(month) FROM complaint_area_kpi_month_rollup)"))
        conn.execute(text("UPDATE complaint_area_duration_values "
                          "SET hours = hours || float8send(1.5) "
                          "WHERE month = (SELECT min(month) FROM complaint_area_duration_values)"))
        conn.execute(text("UPDATE complaint_area_due_rollup SET complaints = complaints + 1 "
                          "WHERE month = (SELECT max(month) FROM complaint_area_due_rollup)"))
    assert stored_months(engine) != kept[6] and stored_due(engine) != kept[7]
    assert stored_area_due(engine) != kept[10]
    assert stored_area_values(engine) != kept[8] and stored_area_kpi_months(engine) != kept[9]
    assert stored(engine) != kept[0] and stored_grid(engine) != kept[1]
    assert stored_kpi(engine) != kept[2] and stored_grid_months(engine) != kept[3]
    assert all(now != was for now, was in zip(stored_durations(engine), kept[4], strict=True))
    assert stored_area_kpi(engine) != kept[5]
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    result = phananh(url, "rollups", "rebuild")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Rollups rebuilt" in result.stdout
    assert (stored(engine), stored_grid(engine), stored_kpi(engine),
            stored_grid_months(engine), stored_durations(engine),
            stored_area_kpi(engine), stored_months(engine), stored_due(engine),
            stored_area_values(engine), stored_area_kpi_months(engine),
            stored_area_due(engine)) == kept


def test_concurrent_writers_in_one_area_count_each_other(world: Any) -> None:
    """Submissions to one ward from several connections at once: each transaction recounts
    the ward's day after the one before it committed (the advisory lock), so none is lost."""
    engine, generations, *_ = world

    def submit_some(worker: int) -> None:
        for n in range(10):
            with engine.begin() as conn:
                submit(conn, Submission(category_code="environment.waste",
                                        description=f"together {worker}.{n}",
                                        lon=105.8412, lat=21.0245),
                       FootprintRules.of(Settings()))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(submit_some, range(4)))
    check(engine, generations)


def submitted_in_one_group(engine: Engine, description: str, count: int) -> list[Any]:
    """``count`` complaints submitted at one place in one transaction, so in one group of the
    daily rollup (ward, day, category, status); their rows."""
    with engine.begin() as conn:
        return [submit(conn, Submission(category_code="environment.waste",
                                        description=f"{description} {n}",
                                        lon=105.8412, lat=21.0245),
                       FootprintRules.of(Settings())) for n in range(count)]


def assign(conn: Any, public_id: str) -> None:
    conn.execute(text("UPDATE complaint SET status = 'ASSIGNED' WHERE public_id = :id"),
                 {"id": public_id})


def test_concurrent_status_changes_in_one_area_count_each_other(world: Any) -> None:
    """Status changes of complaints of one ward and day from several connections at once:
    each transaction's delta waits for the area's advisory lock and applies to the counts the
    one before it committed (migration 0041), so none is lost."""
    engine, generations, *_ = world
    ids = [c.public_id for c in submitted_in_one_group(engine, "changed together", 24)]

    def change_some(worker: int) -> None:
        for public_id in ids[worker::4]:
            with engine.begin() as conn:
                assign(conn, public_id)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(change_some, range(4)))
    check(engine, generations)


def test_a_status_change_waiting_on_a_reimport_counts_where_it_placed_the_complaint(
        world: Any) -> None:
    """A status change that waits for its areas' lock while another transaction places the
    complaint elsewhere (as a boundary re-import does: its placements deleted and inserted)
    reads its deltas again once it holds the lock, and counts the complaint where the other
    transaction left it, not where it was."""
    engine, generations, *_ = world
    # two in one group, so that taking one away leaves a row
    ids = [c.public_id for c in submitted_in_one_group(engine, "placed meanwhile", 2)]
    with engine.connect() as conn:
        placement = conn.execute(text("""
            SELECT ca.generation_id, ca.level, ca.complaint_id, ca.area_id,
                   (SELECT min(a.id) FROM admin_area a
                    WHERE (a.generation_id, a.level) = (ca.generation_id, ca.level)
                      AND a.id <> ca.area_id) AS elsewhere
            FROM complaint_area ca JOIN complaint c ON c.id = ca.complaint_id
            JOIN admin_area routed ON routed.id = c.ward_id
            WHERE c.public_id = :id AND ca.level = 'ward'
              AND ca.generation_id <> routed.generation_id"""), {"id": ids[0]}).one()
    with engine.connect() as importer, importer.begin():
        importer.execute(text("""DELETE FROM complaint_area WHERE (generation_id, level,
            complaint_id) = (:generation_id, :level, :complaint_id)"""), placement._mapping)
        importer.execute(text("""INSERT INTO complaint_area (generation_id, level,
            complaint_id, area_id) VALUES (:generation_id, :level, :complaint_id,
            :elsewhere)"""), placement._mapping)
        with ThreadPoolExecutor(1) as pool:
            changed = pool.submit(lambda: assign_alone(engine, ids[0]))
            deadline = time.monotonic() + 30
            while not importer.execute(text(
                    "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' "
                    "AND NOT granted AND pid <> pg_backend_pid())")).scalar_one():
                assert time.monotonic() < deadline and not changed.done(), \
                    "the status change did not wait for the importer's lock"
                time.sleep(0.02)
            importer.commit()
            changed.result(30)
    check(engine, generations)


def assign_alone(engine: Engine, public_id: str) -> None:
    with engine.begin() as conn:
        assign(conn, public_id)


def reimport_with_one_ward_grown(engine: Engine, generation: DemoGeneration) -> None:
    """Re-import the generation's wards with the first ward grown over its neighbours (the
    lowest code wins where they overlap), as `phananh import-boundaries` would."""
    wards = [a for a in generation.areas if a.level == "ward"]
    grown = wards[0].geometry.buffer(0.01)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "wards.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": mapping(grown if a is wards[0] else a.geometry),
             "properties": {"code": a.code, "name": a.name, "population": a.population,
                            "parent": a.parent_code}} for a in wards]}))
        import_boundaries(engine, BoundaryFile(path=path, level="ward", parent_field="parent"),
                          generation.name, generation.valid_from, generation.valid_to)


def test_whole_months_without_categories_or_statuses_read_the_monthly_rollups() -> None:
    """The monthly grid and area rollups answer the whole months of a window (the days at its
    edges from the daily ones), never a filter of categories or statuses, nor a window shorter
    than a month, nor steps that split a month."""
    def reads_months(f: ComplaintFilter, months: bool = True) -> bool:
        days = whole_days(f)
        assert days is not None
        grid = grid_counts(days, "HEXAGON", 500.0, months=months).text
        areas = area_counts(days, 1, "ward", months=months).text
        assert ("complaint_grid_month_rollup" in grid) == ("complaint_month_rollup" in areas)
        return "complaint_grid_month_rollup" in grid

    first = datetime(2025, 3, 15, tzinfo=CITY)
    assert reads_months(ComplaintFilter())
    assert reads_months(ComplaintFilter(created_from=first, created_to=first + timedelta(60)))
    assert not reads_months(ComplaintFilter(created_from=first,
                                            created_to=first + timedelta(40)))
    assert not reads_months(ComplaintFilter(categories=["environment.waste"]))
    assert not reads_months(ComplaintFilter(statuses=["RECEIVED"]))
    assert not reads_months(ComplaintFilter(), months=False)
    with_steps = [datetime(2025, 4, 1, tzinfo=CITY), datetime(2025, 5, 1, tzinfo=CITY)]
    assert month_steps(with_steps)
    short_edges, long_edges = (
        [fragment(whole_days(f)).text for fragment in (
            lambda days: grid_counts(days, "HEXAGON", 500.0),
            lambda days: area_counts(days, 1, "ward"))]
        for f in month_edge_filters())
    assert not any("-1 * (complaints)" in text for text in short_edges)  # a few days each
    assert all(text.count("-1 * (complaints)") == 2 for text in long_edges)  # months less days
    assert not month_steps([*with_steps, datetime(2025, 5, 5, tzinfo=CITY)])  # a Monday


def test_breakdown_sums_read_whole_months_and_their_edges_from_the_complaints() -> None:
    """The statistics' sums per routed area: whole months from the monthly rollup, the days at
    their edges from the complaints (both kinds of edge); a window without a whole month, or
    a filter of categories or statuses, from the daily rollup alone."""
    def sums(f: ComplaintFilter) -> str:
        days = whole_days(f)
        assert days is not None
        return area_kpi_rows(days, kpi.ROLLED_SUMS, kpi.COMPLAINT_SUMS).text

    short_edges, long_edges = (sums(f) for f in month_edge_filters())
    for text_ in (short_edges, long_edges):
        assert "complaint_area_kpi_month_rollup" in text_
        assert "complaint_area_kpi_rollup" not in text_
        assert text_.count("FROM complaint WHERE") == 2
    assert "-1 * (1) AS received" not in short_edges  # a few days each, added
    assert long_edges.count("-1 * (1) AS received") == 2  # both months, less a few days
    first = datetime(2025, 3, 15, tzinfo=CITY)
    for f in (ComplaintFilter(statuses=["RECEIVED"]),
              ComplaintFilter(categories=["environment.waste"]),
              ComplaintFilter(created_from=first, created_to=first + timedelta(40))):
        daily = sums(f)
        assert "complaint_area_kpi_rollup" in daily and "FROM complaint " not in daily


def test_durations_read_histograms_over_whole_months_without_statuses() -> None:
    """The durations' histograms answer a window holding a whole month (its edges counted
    from the complaints), categories or not; not a shorter window, nor a filter of
    statuses."""
    def histograms(f: ComplaintFilter) -> bool:
        days = whole_days(f)
        assert days is not None
        return duration_rows(days) is not None

    first = datetime(2025, 3, 15, tzinfo=CITY)
    assert histograms(ComplaintFilter())
    assert histograms(ComplaintFilter(created_from=first, created_to=first + timedelta(60)))
    assert histograms(ComplaintFilter(categories=["environment.waste"]))
    assert not histograms(ComplaintFilter(created_from=first,
                                          created_to=first + timedelta(40)))
    assert not histograms(ComplaintFilter(statuses=["CLOSED"]))
    short_edges, long_edges = (duration_rows(whole_days(f)) for f in month_edge_filters())
    assert short_edges is not None and long_edges is not None
    assert "-1 AS complaints" not in short_edges.edges.text  # both edges read, a few days each
    assert long_edges.edges.text.count("-1 AS complaints") == 2  # both months, less a few days


def test_an_end_edge_not_yet_begun_is_read_as_its_month_less_the_days_to_come() -> None:
    """A window up to tomorrow (a dashboard's "so far") reads its last month whole, less the
    month's days after the window, which have not begun: nothing to read, however few of the
    month's days the window holds. Once those days have begun, the shorter side is read. The
    windows ending tomorrow of check_kpis, check_durations and the area and grid counts
    compare this reading with the complaints."""
    days = Days(first=date(2025, 3, 1), end=date(2025, 5, 4), categories=(), statuses=())
    late = month_split(days, today=date(2025, 5, 3))
    assert late is not None
    assert (late.first_month, late.end_month) == (date(2025, 3, 1), date(2025, 6, 1))
    assert late.edges == ((date(2025, 5, 4), date(2025, 6, 1), -1),)
    assert late.taken_from == (date(2025, 5, 1),)
    for today in (date(2025, 5, 4), date(2025, 7, 1)):
        past = month_split(days, today=today)
        assert past is not None
        assert (past.first_month, past.end_month) == (date(2025, 3, 1), date(2025, 5, 1))
        assert past.edges == ((date(2025, 5, 1), date(2025, 5, 4), 1),)


def test_duration_buckets_follow_the_order_of_the_values(world: Any) -> None:
    """duration_bucket() and duration_fine_bucket() (read from the float's bytes, migration
    0039) equal the buckets computed here, never decrease as the hours grow (negative, zero,
    tiny, bucket edges, huge and infinite values alike, and floats of every exponent), and a
    fine bucket lies in one coarse bucket, an eighth of it."""
    engine, *_ = world
    rng = np.random.default_rng(16)
    any_bits = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, 2000, np.int64)
    hours = sorted({-math.inf, -1e9, -3.0, -2.0, -1.0, -1e-300, 0.0, 5e-324, 1e-300, 0.5,
                    1.0, 1.0 + 2**-5, 1.0 + 2**-5 - 2**-52, 1.0 + 2**-8, 1.0 + 2**-8 - 2**-52,
                    2.0, 1e12, math.inf,
                    *map(float, rng.uniform(-400, 400, 500)),
                    *map(float, rng.exponential(50, 500)),
                    *(h for h in map(float, any_bits.view(np.float64)) if not math.isnan(h))})
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT duration_bucket(h), duration_fine_bucket(h) "
                                 "FROM unnest(CAST(:hours AS float8[])) WITH ORDINALITY AS v(h, n) "
                                 "ORDER BY n"), {"hours": hours}).all()
        # -0.0 equals 0.0 but has a bucket of its own (a literal -0.0 would be numeric 0)
        negative_zero = conn.execute(text("SELECT duration_bucket(CAST('-0' AS float8)), "
                                          "duration_fine_bucket(CAST('-0' AS float8))")).one()
    assert tuple(negative_zero) == (duration_bucket(-0.0), duration_bucket(-0.0, fine=True))
    found, fine = [r[0] for r in rows], [r[1] for r in rows]
    assert found == [duration_bucket(h) for h in hours]
    assert fine == [duration_bucket(h, fine=True) for h in hours]
    assert found == sorted(found) and len(set(found)) > 100
    assert fine == sorted(fine) and len(set(fine)) > len(set(found))
    assert [f >> 3 for f in fine] == found


SAME_HOURS = text("""
    INSERT INTO complaint (public_id, description, category_code, location, ward_id,
                           district_id, city_id, created_at, first_action_at)
    SELECT :prefix || n, 'Ranks test', c.category_code, c.location, c.ward_id, c.district_id,
           c.city_id, CAST(:start AS timestamptz) + n * interval '1 hour',
           CAST(:start AS timestamptz) + n * interval '1 hour' + CAST(:hours AS float8)
               * interval '1 hour'
    FROM (SELECT * FROM complaint ORDER BY id LIMIT 1) AS c, generate_series(1, :n) AS n""")


def test_percentiles_read_each_bucket_holding_their_ranks_once(
        world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A month of 50 complaints first acted on after the same number of hours, 4 after a
    little more (and 400 not acted on): the four ranks of their median and 90th percentile lie
    among the 50, in one bucket (migration 0025), which is read once (the loops of the bucket
    scans that ran), and the percentiles are those hours. A bucket this small is read whole,
    the 4 with the 50; in one of more durations than ``REFINED_ABOVE``, only the fine bucket
    (migration 0038) that holds the ranks is read, through its own index: the 50, not the 4.
    Another 50 like the first two months later, in the same partition, are not read at all:
    the bucket indexes are keyed on the reception time within a bucket (migration 0035)."""
    engine, *_ = world
    start, later = datetime(2019, 1, 1, tzinfo=CITY), datetime(2019, 3, 1, tzinfo=CITY)
    f = ComplaintFilter(created_from=start, created_to=datetime(2019, 2, 1, tzinfo=CITY))
    assert duration_bucket(7.25) == duration_bucket(7.3)
    assert duration_bucket(7.25, fine=True) != duration_bucket(7.3, fine=True)
    with engine.begin() as conn:
        for month, hours, n in ((start, 7.25, 50), (start, 7.3, 4), (start, None, 400),
                                (later, 7.25, 50)):
            conn.execute(SAME_HOURS, {"start": month, "hours": hours, "n": n,
                                      "prefix": f"RANKS-{month:%m}-{hours}-"})
        conn.execute(text("ANALYZE complaint"))
    try:
        last = 54 - 1
        ranks = {rank for p in (0.5, 0.9) for rank in (math.floor(p * last), math.ceil(p * last))}
        assert len(ranks) == 4 and max(ranks) < 50

        def percentiles(conn: Any) -> None:
            found = kpi.rolled_durations(conn, f, kpi.By.ALL, kpi.Part.FIRST_ACTION)
            assert found == {0: {"first_action": [7.25, 7.25]}}

        for refined_above, read in ((histograms.REFINED_ABOVE, 54), (53, 50)):
            monkeypatch.setattr(histograms, "REFINED_ABOVE", refined_above)
            plans = executed_plans(engine, percentiles, lambda s: "duration_fine_bucket" in s,
                                   analyze=True)
            scans = [scan for plan in plans for scan in scan_nodes(plan)
                     if scan["Relation Name"].startswith(("complaint_y", "complaint_default"))]
            assert scans and max(scan["Actual Loops"] for scan in scans) == 1, scans
            assert sum(scan["Actual Rows"] for scan in scans) == read, (refined_above, scans)
            assert not any(scan.get("Rows Removed by Filter") for scan in scans), scans
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM complaint WHERE public_id LIKE 'RANKS-%'"))


def probed(conditions: str) -> bool:
    """Whether a scan's conditions are a percentile's probe of a bucket (coarse or fine)."""
    return "= p.bucket" in conditions or "= p.fine" in conditions


def test_a_windows_edges_are_read_once_whatever_buckets_are_refined(
        world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The complaints of a window's edge days are read once per statement for both
    histograms, however many buckets are refined (each refinement sums the fine histogram of
    its bucket, the edges' rows included): read in each refinement, they made a year's
    breakdowns take 8 s at 1M."""
    engine, *_ = world
    monkeypatch.setattr(histograms, "REFINED_ABOVE", 0)  # refine every bucket holding a rank
    f = month_edge_filters()[0]

    def percentiles(conn: Any) -> None:
        assert kpi.total_and_category_durations(conn, f)

    plans = executed_plans(engine, percentiles, lambda s: "duration_fine_bucket" in s,
                           analyze=True)
    scans = [scan for plan in plans for scan in scan_nodes(plan)
             if scan["Relation Name"].startswith(("complaint_y", "complaint_default"))]
    edges = [scan for scan in scans if not probed(scan_conditions(scan))]
    probes = [scan for scan in scans if probed(scan_conditions(scan))]
    assert edges and probes, scans
    assert max(scan["Actual Loops"] for scan in probes) > 1  # several buckets refined
    assert [scan["Actual Loops"] for scan in edges] == [1] * len(edges), edges


def complaint_scans(engine: Engine, run: Callable[[Any], None],
                    overdue: bool = False) -> list[Any]:
    """The scans of complaint's partitions in the plans of the statements ``run`` executes
    (all but overdue's, which reads the open complaints through their due times; or, with
    ``overdue``, overdue's alone): partition, index (or None) and every condition the scan
    applies (:func:`tests.plans.scan_conditions`)."""
    plans = executed_plans(engine, run,
                           lambda statement: ("AS overdue" in statement) == overdue)
    return [(scan["Relation Name"], scan_index(scan), scan_conditions(scan))
            for plan in plans for scan in scan_nodes(plan)
            if scan["Relation Name"].startswith("complaint_y")
            or scan["Relation Name"] == "complaint_default"]


def without_and_with_statistics(engine: Engine) -> Iterator[None]:
    """Twice: on the partitions as the test left them, then analyzed. On a database this
    small, once autovacuum has analyzed a partition of a few rows, PostgreSQL may read it
    whole, or through another index, for less than through the index meant for large ones
    (CI met it); what the statement asks for stays the same, and that is what is checked."""
    yield
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    yield


def test_long_windows_count_from_rollups_and_sort_one_bucket(world: Any) -> None:
    """Over whole months, the statistics' counts in total and per category never scan the
    complaints, and their durations' percentiles read them only a bucket at a time, which the
    bucket indexes serve; bypassed, the same statistics read the complaints whole (PostgreSQL
    may then walk a bucket index from end to end, but never reads just a bucket)."""
    engine, *_ = world
    f = ComplaintFilter()
    as_of = datetime.now(UTC)

    def statistics(conn: Any) -> None:
        for by in (kpi.By.ALL, kpi.By.CATEGORY):
            for part in kpi.parts_for(by, f):
                kpi.part(conn, f, by, part, as_of)

    for _ in without_and_with_statistics(engine):
        scans = complaint_scans(engine, statistics)
        assert scans and [s for s in scans if not probed(s[2])] == [], scans
        assert any(index and index.endswith("_bucket") for _, index, _ in scans), scans
        with bypassed():
            raw = complaint_scans(engine, statistics)
        assert raw and not any(probed(conditions) for *_, conditions in raw), raw


OPEN = {"RECEIVED", "ASSIGNED", "IN_PROGRESS", "REOPENED"}  # README, "Statistics definitions"


def open_due(engine: Engine) -> list[Any]:
    """The open complaints that have a due time (the README's rule): ward, category, due."""
    with engine.connect() as conn:
        due = conn.execute(text("SELECT ward_id, category_code, status, due_at FROM complaint "
                                "WHERE due_at IS NOT NULL")).all()
    return [c for c in due if c.status in OPEN]


def instant_among_due(due: list[Any], period_of: Callable[[datetime], date]
                      ) -> tuple[date, datetime]:
    """The period (``period_of`` a due time) in which the most distinct due times fall, and
    an instant in it with some due before and some after."""
    by_period: dict[date, list[datetime]] = {}
    for c in due:
        by_period.setdefault(period_of(c.due_at), []).append(c.due_at)
    period, times = max(by_period.items(), key=lambda item: len(set(item[1])))
    within = min(times) + (max(times) - min(times)) / 2
    assert 0 < sum(t < within for t in times) < len(times)
    return period, within


def assert_overdue_reads_due_from(engine: Engine, rolled: Callable[[Any], None],
                                  raw: Callable[[Any], None]) -> None:
    """Overdue read by ``rolled`` scans only complaints due from a period's start until the
    instant asked; read by ``raw`` (the rollups bypassed), every open complaint due before
    it."""
    for _ in without_and_with_statistics(engine):
        scans = complaint_scans(engine, rolled, overdue=True)
        assert scans and [s for s in scans
                          if "due_at >=" not in s[2] or "due_at <" not in s[2]] == [], scans
        assert any(index and index.endswith("_complaint_due") for _, index, _ in scans), scans
        with bypassed():
            bypassing = complaint_scans(engine, raw, overdue=True)
        assert bypassing and not any("due_at >=" in conditions
                                     for *_, conditions in bypassing), bypassing


def test_overdue_sums_due_days_and_reads_only_the_day_asked(world: Any) -> None:
    """Overdue in total, per category and per month, summed from the rollup of due days,
    equals the open complaints past due counted here and the statement over the complaints,
    at an instant of a day on which open complaints fall due both before and after it (those
    are read one by one), at that day's first instant, and now; and it reads the complaints
    due from that day's start only, which ``complaint_due`` serves, where the statement over
    the complaints reads every open complaint due before the instant."""
    engine, *_ = world
    due = open_due(engine)
    day, within = instant_among_due(due, lambda t: t.astimezone(CITY).date())
    for as_of in (within, city_midnight(day), datetime.now(UTC)):
        hand = Counter(c.category_code for c in due if c.due_at < as_of)
        with engine.connect() as conn:
            for f in whole_day_filters():
                months = Calendar(Period.MONTH,
                                  f.created_from or city_midnight(date(2020, 1, 1)),
                                  f.created_to or city_midnight(datetime.now(CITY).date()
                                                                + timedelta(days=1)))
                starts = months.starts(conn)
                for by in (kpi.By.ALL, kpi.By.CATEGORY, kpi.By.PERIOD):
                    rolled = kpi.rolled_counts(conn, f, by, as_of, starts)
                    assert rolled is not None
                    with bypassed():
                        raw = kpi.part(conn, f, by, kpi.Part.COUNTS, as_of, starts)
                    assert kpi.figures(rolled) == kpi.figures(raw), (f, by, as_of)
                    if f == ComplaintFilter() and by is not kpi.By.PERIOD:
                        found = {key: k.overdue for key, k in kpi.figures(rolled).items()}
                        assert (found == {0: hand.total()} if by is kpi.By.ALL
                                else +Counter(found) == hand), (by, as_of)
        assert hand.total() > 0
    assert_overdue_reads_due_from(
        engine, lambda conn: kpi.rolled_counts(conn, ComplaintFilter(), kpi.By.ALL, within, []),
        lambda conn: kpi.part(conn, ComplaintFilter(), kpi.By.ALL, kpi.Part.COUNTS, within))


def test_area_overdue_sums_due_months_and_reads_only_the_month_asked(world: Any) -> None:
    """Overdue per district and ward, from the rollup of open complaints per month received
    and month due (0037), equals the statement over the complaints for windows of whole
    months with either kind of edge, open ones too, and the open complaints past due counted
    here, at an instant of a month in which open complaints fall due both before and after
    it, at that month's first instant, and now; and it reads only the complaints due from
    that month's start, where the statement over the complaints reads every open complaint
    due before the instant."""
    engine, *_ = world
    due = open_due(engine)
    month, within = instant_among_due(due, lambda t: t.astimezone(CITY).date().replace(day=1))
    filters = [*whole_day_filters(), *month_edge_filters(), *open_edge_filters()]
    for as_of in (within, city_midnight(month), datetime.now(UTC)):
        hand = Counter(c.ward_id for c in due if c.due_at < as_of)
        with engine.connect() as conn:
            for f in filters:
                for by in (kpi.By.DISTRICT, kpi.By.WARD):
                    rolled = kpi.rolled_counts(conn, f, by, as_of, [])
                    assert rolled is not None
                    with bypassed():
                        raw = kpi.part(conn, f, by, kpi.Part.COUNTS, as_of)
                    assert kpi.figures(rolled) == kpi.figures(raw), (f, by, as_of)
                    if f == ComplaintFilter() and by is kpi.By.WARD:
                        found = {key: k.overdue for key, k in kpi.figures(rolled).items()}
                        assert +Counter(found) == hand, as_of
        assert hand.total() > 0
    assert_overdue_reads_due_from(
        engine, lambda conn: kpi.rolled_counts(conn, ComplaintFilter(), kpi.By.WARD, within, []),
        lambda conn: kpi.part(conn, ComplaintFilter(), kpi.By.WARD, kpi.Part.COUNTS, within))


def test_only_whole_days_and_kept_fields_use_the_rollup() -> None:
    midnight = datetime(2025, 7, 1, tzinfo=CITY)
    assert whole_days(ComplaintFilter(created_from=midnight)) is not None
    assert whole_days(ComplaintFilter(created_from=midnight + timedelta(hours=1))) is None
    assert whole_days(ComplaintFilter(created_to=midnight.astimezone(UTC))) is not None
    assert whole_days(ComplaintFilter(ward_codes=["P001"])) is None
    assert whole_days(ComplaintFilter(bbox=(105.0, 21.0, 106.0, 22.0))) is None
    assert whole_days(ComplaintFilter(overdue=False)) is None


def test_other_grids_and_periods_read_the_complaints(world: Any) -> None:
    """Only a standard grid over whole days is read from the grid rollup, and only periods
    that start at midnight in the city are stepped from a rollup."""
    engine, *_ = world
    midnight = datetime(2025, 7, 1, tzinfo=CITY)
    with engine.connect() as conn:
        found = count_cells(conn, ComplaintFilter(), Shape.HEXAGON, 500.0, None, 100_000)
        assert found is not None
        standard = found.grid
        assert rolled_up(conn, ComplaintFilter(), standard) is not None
        assert rolled_up(conn, ComplaintFilter(created_from=midnight + timedelta(hours=8)),
                         standard) is None
        assert rolled_up(conn, ComplaintFilter(), Grid(Shape.HEXAGON, 700.0,
                                                       standard.srid)) is None
        assert rolled_up(conn, ComplaintFilter(), Grid(Shape.HEXAGON, 500.0, 32647)) is None
    assert day_steps([midnight, midnight + timedelta(days=31)]) is not None
    assert day_steps([midnight.astimezone(UTC).replace(hour=0)]) is None  # 07:00 in the city


MONTHLY_PARTITIONED = ("complaint_duration_rollup", "complaint_duration_fine_rollup",
                       "complaint_area_duration_values")


def test_a_duration_written_touches_its_months_partitions_only(world: Any) -> None:
    """Recording a first action, and then changing it, runs the monthly-partitioned rollups'
    triggers (migration 0040) on the partitions of the complaint's month alone: a statement
    planned over every partition (some sixty a table) cost a write 30 times its own time. The
    partitions a transaction opened are those it holds a lock on."""
    engine, *_ = world
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # the triggers run at once
        complaint, created = conn.execute(text(
            "SELECT id, created_at FROM complaint WHERE first_action_at IS NULL "
            "ORDER BY id LIMIT 1")).one()
        month = created.astimezone(CITY).date()  # its month's partition, as 0036 names it
        for hours in (5, 7):  # added; then taken away and added again
            conn.execute(text("UPDATE complaint SET first_action_at = created_at "
                              "+ :hours * interval '1 hour' WHERE id = :id"),
                         {"hours": hours, "id": complaint})
        opened = conn.execute(text("""
            SELECT parent.relname, count(*) AS partitions, min(child.relname) AS first
            FROM pg_locks l JOIN pg_inherits i ON i.inhrelid = l.relation
            JOIN pg_class child ON child.oid = i.inhrelid
            JOIN pg_class parent ON parent.oid = i.inhparent
            WHERE l.pid = pg_backend_pid() AND parent.relname = ANY(:tables)
            GROUP BY parent.relname"""), {"tables": list(MONTHLY_PARTITIONED)}).all()
        transaction.rollback()
    assert {r.relname: (r.partitions, r.first) for r in opened} == {
        table: (1, f"{table}_m{month:%Y%m}") for table in MONTHLY_PARTITIONED}
    with engine.connect() as conn:
        assert conn.execute(text(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = "
            "CAST('complaint_duration_rollup' AS regclass)")).scalar_one() > 40


def rows_read(conn: Any, table: str) -> int:
    """Rows of ``table`` (or of its partitions) this transaction has read so far."""
    return _rows_counted(conn, table, "seq_tup_read + idx_tup_fetch")


def rows_written(conn: Any, table: str) -> int:
    """Rows of ``table`` (or of its partitions) this transaction has inserted, updated or
    deleted so far."""
    return _rows_counted(conn, table, "n_tup_ins + n_tup_upd + n_tup_del")


def _rows_counted(conn: Any, table: str, counters: str) -> int:
    """The sum of ``counters`` (columns of ``pg_stat_xact_user_tables``) over ``table`` and its
    partitions."""
    return int(conn.execute(text(f"""
        SELECT coalesce(sum({counters}), 0)
        FROM (SELECT coalesce(seq_tup_read, 0) AS seq_tup_read,
                     coalesce(idx_tup_fetch, 0) AS idx_tup_fetch, n_tup_ins, n_tup_upd, n_tup_del
              FROM pg_stat_xact_user_tables s
              WHERE s.relid = CAST(:table AS regclass) OR s.relid IN (
                  SELECT inhrelid FROM pg_inherits
                  WHERE inhparent = CAST(:table AS regclass))) AS s"""),
        {"table": table}).scalar_one())


def status_changed(conn: Any, tables: tuple[str, ...],
                   counted: Callable[[Any, str], int] = rows_read) -> tuple[Any, dict[str, int]]:
    """Open complaints changed to ASSIGNED one by one, their rollup triggers run at once; the
    last of them, and what its change read of each of ``tables`` (``counted``: rows by
    default). The ten before it let
    PostgreSQL switch the triggers' statements to a generic plan, as a long-lived connection
    would."""
    conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    *warming, complaint = conn.execute(text(
        "SELECT * FROM complaint WHERE status = 'RECEIVED' ORDER BY id LIMIT 11")).all()
    for c in warming:
        assign(conn, c.public_id)
    before = {table: counted(conn, table) for table in tables}
    assign(conn, complaint.public_id)
    return complaint, {table: counted(conn, table) - before[table] for table in tables}


def test_a_status_change_reads_none_of_its_days_other_complaints(world: Any) -> None:
    """A complaint that changes status without moving takes one from its old group of the
    daily area rollup and adds one to its new group (migration 0041): the day's other
    complaints, some 9,000 in a national deployment, are not read again to recount them."""
    engine, *_ = world
    with engine.connect() as conn, conn.begin() as transaction:
        complaint, read = status_changed(conn, ("complaint",))
        day = complaint.created_at.astimezone(CITY).date()
        that_day = conn.execute(text(
            "SELECT count(*) FROM complaint WHERE created_at >= :start AND created_at < :end"),
            {"start": city_midnight(day), "end": city_midnight(day + timedelta(days=1))}
        ).scalar_one()
        transaction.rollback()
    assert that_day >= 3  # some to read, were the day recounted
    assert read["complaint"] <= 1, f"{read} rows read for one status change"


def entries_read(conn: Any, table: str) -> int:
    """Rows of ``table`` this transaction has read by sequential scans, and entries of its
    indexes it has read (an index-only scan reads no row)."""
    return int(conn.execute(text("""
        SELECT pg_stat_get_xact_tuples_returned(CAST(:table AS regclass))
               + coalesce(sum(pg_stat_get_xact_tuples_returned(indexrelid)), 0)
        FROM pg_index WHERE indrelid = CAST(:table AS regclass)"""), {"table": table}
    ).scalar_one())


def test_a_status_change_probes_the_areas_once_per_generation_and_level(world: Any) -> None:
    """The daily area rollup's triggers place a complaint in every generation and level that
    has areas: they find those pairs with one probe each (migration 0045), where reading
    every ward and district, twice per status change, cost more than the rest of the change
    in a national deployment."""
    engine, *_ = world
    with engine.connect() as conn, conn.begin() as transaction:
        # Areas as few as these may be joined to a complaint's routed ones by reading them
        # all; with joins by hash or merge taken away, they are probed by id, as among a
        # nation's thousands, and what is left to read is what finds the pairs.
        conn.exec_driver_sql("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
        held = conn.execute(text(
            "SELECT count(*) FROM admin_area WHERE level IN ('ward', 'district')")).scalar_one()
        _, read = status_changed(conn, ("admin_area",), entries_read)
        transaction.rollback()
    assert held >= 100  # many to read, were the pairs found among the areas
    # Each pair, and each side's routed area in each, probed twice (before and after the
    # areas' locks): some thirty entries.
    assert read["admin_area"] <= 40, f"{read} for one status change"


def test_a_status_change_finds_each_of_its_grid_rows_once(world: Any) -> None:
    """A status change moves a complaint to another row of each standard grid: each old row is
    found once, to be lowered or deleted (one MERGE, migration 0047; before it, an UPDATE and
    then a DELETE looked each up), and each new one at most once, by the upsert."""
    engine, *_ = world
    with engine.connect() as conn, conn.begin() as transaction:
        grids = conn.execute(text("SELECT count(*) FROM grid_rollup_size")).scalar_one()
        _, read = status_changed(conn, ("complaint_grid_rollup",), entries_read)
        transaction.rollback()
    assert grids >= 2
    assert read["complaint_grid_rollup"] <= 2 * grids, read


def test_a_status_change_finds_its_rollup_rows_through_their_indexes(world: Any) -> None:
    """The monthly rollups per routed area find a complaint's row by their unique index,
    district and ward included though either may be NULL (migration 0042), instead of
    reading every row of its month."""
    engine, *_ = world
    tables = ("complaint_area_kpi_month_rollup", "complaint_area_due_rollup")
    with engine.connect() as conn, conn.begin() as transaction:
        # Tables this small may be read whole by the planner's choice (the suite's own
        # writes and autovacuum's statistics decide it); with that choice taken away, what
        # is left to choose is how far the index can narrow the search.
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        complaint, read = status_changed(conn, tables)
        month = complaint.created_at.astimezone(CITY).date().replace(day=1)
        held = {table: conn.execute(text(f"SELECT count(*) FROM {table} WHERE month = :month"),
                                    {"month": month}).scalar_one() for table in tables}
        transaction.rollback()
    assert held["complaint_area_kpi_month_rollup"] >= 10  # many to read, were they filtered
    assert all(rows <= 3 for rows in read.values()), read


def calls(conn: Any, functions: tuple[str, ...]) -> dict[str, int]:
    """How many times this transaction has called each of ``functions`` so far (with
    ``track_functions`` on)."""
    return dict.fromkeys(functions, 0) | dict(conn.execute(text(
        "SELECT funcname, calls FROM pg_stat_xact_user_functions WHERE funcname = ANY(:names)"),
        {"names": list(functions)}).all())


def test_an_update_that_changes_no_group_leaves_the_daily_area_rollup_at_once(
        world: Any) -> None:
    """A first action changes no complaint's group of the daily area rollup: its statement
    trigger returns before writing to the rollup (migration 0048; before it, its empty
    DELETE, UPDATE and INSERT each ran the monthly rollup's triggers). A status change still
    writes to it."""
    engine, *_ = world
    monthly = ("complaint_month_rollup_inserted", "complaint_month_rollup_updated",
               "complaint_month_rollup_deleted")
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(text("SET LOCAL track_functions = 'pl'"))
        complaint = conn.execute(text(
            "SELECT * FROM complaint WHERE first_action_at IS NULL AND status <> 'ASSIGNED' "
            "ORDER BY id LIMIT 1")).one()
        conn.execute(text("UPDATE complaint SET first_action_at = created_at + interval '2 h' "
                          "WHERE id = :id"), {"id": complaint.id})
        acted = calls(conn, monthly)
        assign(conn, complaint.public_id)
        assigned = calls(conn, monthly)
        transaction.rollback()
    assert acted == dict.fromkeys(monthly, 0), acted
    assert sum(assigned.values()) > 0, assigned


def test_a_status_change_leaves_durations_it_does_not_change_untouched(world: Any) -> None:
    """A complaint with a first action and no resolution changes status: its durations' rows
    (the first action has no status) are what they were, so the rollups of durations neither
    read nor write any row (migration 0043; before it, each was taken away and added
    again), and their row functions are not even called (0046). Its resolution, which adds
    a row, calls each of them once."""
    engine, *_ = world
    functions = ("complaint_duration_rollup_row", "complaint_duration_fine_rollup_row",
                 "complaint_area_duration_values_row")
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(text("SET LOCAL track_functions = 'pl'"))
        conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
        complaint = conn.execute(text(
            "SELECT * FROM complaint WHERE first_action_at IS NOT NULL AND resolved_at IS NULL "
            "AND status <> 'ASSIGNED' ORDER BY id LIMIT 1")).one()
        before = {t: (rows_read(conn, t), rows_written(conn, t)) for t in MONTHLY_PARTITIONED}
        assign(conn, complaint.public_id)
        after = {t: (rows_read(conn, t), rows_written(conn, t)) for t in MONTHLY_PARTITIONED}
        changed = conn.execute(text("SELECT status FROM complaint WHERE id = :id"),
                               {"id": complaint.id}).scalar_one()
        assigned = calls(conn, functions)
        conn.execute(text("UPDATE complaint SET status = 'RESOLVED', resolved_at = "
                          "first_action_at + interval '1 day' WHERE id = :id"),
                     {"id": complaint.id})
        resolved = calls(conn, functions)
        transaction.rollback()
    assert (complaint.status, changed) != ("ASSIGNED", "ASSIGNED")  # the trigger had cause
    assert after == before, {t: (after[t][0] - before[t][0], after[t][1] - before[t][1])
                             for t in MONTHLY_PARTITIONED}
    assert assigned == dict.fromkeys(functions, 0)
    assert resolved == dict.fromkeys(functions, 1)


def test_a_duration_changed_finds_its_rollup_rows_through_their_indexes(world: Any) -> None:
    """First actions moved by an hour: the rollups of durations find each old row by their
    unique index, the first action's NULL status and the routed areas included (migration
    0043), instead of reading every row of the month and measure. The ten changes before the
    one measured would have switched a cached plan to a generic one."""
    engine, *_ = world
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
        conn.execute(text("SET LOCAL enable_seqscan = off"))  # as in the test above
        *warming, last = conn.execute(text(
            "SELECT id, created_at FROM complaint WHERE first_action_at IS NOT NULL "
            "ORDER BY id LIMIT 11")).all()
        moved = text("UPDATE complaint SET first_action_at = first_action_at "
                     "+ interval '1 hour' WHERE id = :id")
        for c in warming:
            conn.execute(moved, {"id": c.id})
        before = {t: rows_read(conn, t) for t in MONTHLY_PARTITIONED}
        conn.execute(moved, {"id": last.id})
        read = {t: rows_read(conn, t) - before[t] for t in MONTHLY_PARTITIONED}
        held = conn.execute(text(
            "SELECT count(*) FROM complaint_area_duration_values "
            "WHERE measure = 'first_action' AND month = :month"),
            {"month": last.created_at.astimezone(CITY).date().replace(day=1)}).scalar_one()
        transaction.rollback()
    assert held >= 10  # many to read, were they filtered
    assert all(rows <= 3 for rows in read.values()), read


def test_a_status_change_repairs_a_group_found_out_of_step(world: Any) -> None:
    """A status change whose old group is missing from the daily rollup (written with the
    triggers off, say) recounts its groups: the rollup ends right, not one short or refused."""
    engine, generations, *_ = world
    first, _ = submitted_in_one_group(engine, "out of step", 2)
    with engine.begin() as conn:  # their group in the generation they were routed in
        deleted = conn.execute(text("""
            DELETE FROM complaint_rollup r USING complaint c JOIN admin_area a ON a.id = c.ward_id
            WHERE c.public_id = :id AND r.generation_id = a.generation_id
              AND r.level = 'ward' AND r.area_id = c.ward_id AND r.day = :day
              AND r.category_code = c.category_code AND r.status = c.status"""),
            {"id": first.public_id, "day": first.created_at.astimezone(CITY).date()})
        assert deleted.rowcount == 1
        assign(conn, first.public_id)
    check(engine, generations)


def test_a_column_added_to_the_daily_rollup_leaves_its_writers_counting(world: Any) -> None:
    """A column a later migration adds to ``complaint_rollup`` (here one with a default) leaves
    every writer of the rollup counting: the status change's deltas are built by column name
    and inserted into named columns (migration 0044), where a cast of their row by position
    refused every status change."""
    engine, generations, *_ = world
    first, _ = submitted_in_one_group(engine, "column added", 2)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE complaint_rollup ADD COLUMN note text NOT NULL "
                          "DEFAULT 'none'"))
    try:
        with engine.begin() as conn:
            assign(conn, first.public_id)
        submitted_in_one_group(engine, "column added, then submitted", 1)
        check(engine, generations)
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE complaint_rollup DROP COLUMN note"))


def test_a_packed_duration_leaves_its_own_slot(world: Any) -> None:
    """``float8s_without`` (0032) compares whole 8-byte slots: 1.0 then 0.0 hold eight zero
    bytes from the third byte on, across the two, and removing 0.0 must remove the second."""
    engine, *_ = world
    with engine.connect() as conn:
        found = conn.execute(text("""
            SELECT float8s_without(float8send(1.0) || float8send(0.0), 0.0),
                   float8s_without(float8send(0.0) || float8send(1.0) || float8send(0.0), 0.0),
                   float8s_without(float8send(1.0), 2.0)""")).one()
    assert [None if f is None else [v for (v,) in struct.iter_unpack(">d", f)]
            for f in found] == [[1.0], [1.0, 0.0], None]


def test_values_taken_away_leave_each_group_its_own() -> None:
    """The edges' durations are taken from their months' for all pairs at once
    (``without_each``): each group keeps the multiset difference a Counter computes, however
    values repeat and across groups holding the same values; taking a value a group does not
    hold is an error, not a silent loss."""
    rng = np.random.default_rng(7)
    held, taken = {}, {}
    for group in range(60):
        values = rng.integers(0, 6, rng.integers(0, 40)).astype(float) / 4  # many repeats
        values[(values == 0) & (rng.random(len(values)) < 0.5)] = -0.0  # equal to 0.0
        held[group] = values
        taken[group] = rng.permutation(values)[:rng.integers(0, len(values) + 1)]
        taken[group][taken[group] == 0] *= rng.choice([-1.0, 1.0])  # 0.0 for -0.0, or not
    kept = area_durations.without_each(held, {g: v for g, v in taken.items() if len(v)})
    for group, values in held.items():
        expected = Counter(values.tolist())
        expected.subtract(Counter(taken[group].tolist()))
        assert Counter(kept[group].tolist()) == +expected, group
    assert sum(map(len, taken.values())) > 100 and sum(map(len, kept.values())) > 100
    # -0.0 equals 0.0, as a Counter (and percentile_cont's sort) takes them to be.
    assert area_durations.without_each({1: np.array([0.0, 1.0])}, {1: np.array([-0.0])}
                                       )[1].tolist() == [1.0]
    with pytest.raises(ValueError):
        area_durations.without_each({1: np.array([1.0, 2.0])}, {1: np.array([2.0, 2.0])})
    with pytest.raises(ValueError):
        area_durations.without_each({1: np.array([1.0])}, {2: np.array([1.0])})


def test_packed_durations_are_grouped_by_pair_as_their_rows_came() -> None:
    """Each row of a measure and sign brings its pair, its number of values and the values,
    in the order PostgreSQL read the rows; a pair's values are those of its rows, in that
    order, whatever rows lie between (``None``: no routed area)."""
    rows = [((1, 2), [5.0, 1.0]), ((None, None), [7.0]), ((3, 4), [2.5]), ((1, 2), [3.0]),
            ((1, None), [-0.0, 9.0, 9.0])]
    records = b"".join(struct.pack(">iIi", district or area_durations.NO_AREA,
                                   ward or area_durations.NO_AREA, len(hours))
                       for (district, ward), hours in rows)
    packed = b"".join(struct.pack(">d", value) for _, hours in rows for value in hours)
    found = area_durations.by_pair(records, packed)
    assert {pair: hours.tolist() for pair, hours in found.items()} == {
        (1, 2): [5.0, 1.0, 3.0], (None, None): [7.0], (3, 4): [2.5], (1, None): [-0.0, 9.0, 9.0]}
    assert area_durations.by_pair(b"", b"") == {}
    with pytest.raises(ValueError):
        area_durations.by_pair(records, packed[:-8])


def test_packed_durations_come_a_row_a_month_without_sorting_their_rows(world: Any) -> None:
    """A window of whole months and edges reads the packed durations and the edges'
    complaints in plain aggregates over the rows as they come, one per month (its
    partition) and per edge: no sort of rows of hundreds of bytes each (a year at 10 million
    complaints spilled them to disk)."""
    engine, *_ = world
    today = datetime.now(CITY).replace(hour=0, minute=0, second=0, microsecond=0)
    f = ComplaintFilter(created_from=today - timedelta(days=75), created_to=today)
    split = area_durations.answered(f)
    assert split is not None and split.edges
    months = each_month(split)
    assert months

    def read(conn: Any) -> None:
        assert area_durations.values(conn, f, (kpi.FIRST_ACTION, kpi.RESOLUTION))

    plan, = executed_plans(engine, read, lambda s: "complaint_area_duration_values" in s)
    assert "Sort" not in json.dumps(plan), plan
    aggregates = [node for node in plan["Plans"] if node["Node Type"] == "Aggregate"]
    assert [node["Strategy"] for node in aggregates] == ["Plain"] * (len(months)
                                                                     + len(split.edges))
