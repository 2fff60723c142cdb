"""The daily rollups (migration 0013) equal the raw computation after every kind of write.

The reference is computed here, in Python, from the complaints and their stored placements
(``complaint_area``): the placing rule of ``analytics/areas.py`` (routed area if it belongs to
the generation, else the covering one) and the city's calendar (zoneinfo). The rollup table
must equal it row for row after a seed COPY, submissions, status changes, reroutes, moves,
category changes and a boundary re-import; ``areaStats`` read from the rollups must equal the
same analysis over the complaints. Its own database: the re-import changes the demo city.
"""

import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from shapely.geometry import mapping
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from analytics.areas import count_by_area
from analytics.rollups import whole_days
from app import create_app
from auth import users
from auth.principal import Role
from auth.tokens import issue_token
from db.complaints import ComplaintFilter
from db.engine import make_engine
from demo.city import DemoGeneration, build_demo_city
from demo.complaints import generate_complaints
from demo.seed import seed_boundaries, seed_complaints
from geo.boundaries import BoundaryFile, import_boundaries
from settings import Settings
from tests.conftest import fresh_database
from workflow.submission import FootprintRules, Submission, submit

CITY = ZoneInfo("Asia/Ho_Chi_Minh")
COMPLAINTS = 1_200


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Engine, tuple[DemoGeneration, ...], TestClient, dict[str, str]]]:
    for url in fresh_database():
        engine = make_engine(url)
        generations = build_demo_city()
        seed_boundaries(engine, generations)
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


def city_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CITY)


def check(engine: Engine, generations: tuple[DemoGeneration, ...]) -> None:
    """The rollup equals the reference, and areaStats from it equals areaStats from the
    complaints, for whole-day filters on both generations and levels."""
    truth = expected(engine)
    assert stored(engine) == truth
    today = datetime.now(CITY).date()
    filters = [
        ComplaintFilter(),
        ComplaintFilter(created_from=city_midnight(today - timedelta(days=90)),
                        created_to=city_midnight(today + timedelta(days=1))),
        ComplaintFilter(categories=["environment.waste", "construction.illegal"],
                        statuses=["RECEIVED", "REJECTED", "CLOSED"],
                        created_from=city_midnight(today - timedelta(days=200))),
    ]
    with engine.connect() as conn:
        for f in filters:
            assert whole_days(f) is not None
            for generation in (g.name for g in generations):
                for level in ("ward", "district"):
                    rolled = count_by_area(conn, f, level, generation)
                    raw = count_by_area(conn, f, level, generation, rollups=False)
                    assert rolled == raw, (f, generation, level)
    assert sum(truth.values()) > 0


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


def test_only_whole_days_and_kept_fields_use_the_rollup() -> None:
    midnight = datetime(2025, 7, 1, tzinfo=CITY)
    assert whole_days(ComplaintFilter(created_from=midnight)) is not None
    assert whole_days(ComplaintFilter(created_from=midnight + timedelta(hours=1))) is None
    assert whole_days(ComplaintFilter(created_to=midnight.astimezone(UTC))) is not None
    assert whole_days(ComplaintFilter(ward_codes=["P001"])) is None
    assert whole_days(ComplaintFilter(bbox=(105.0, 21.0, 106.0, 22.0))) is None
    assert whole_days(ComplaintFilter(overdue=False)) is None
