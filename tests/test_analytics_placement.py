"""The stored placement of complaints in every boundary generation (``complaint_area``, kept by
triggers) stays equal to a shapely computation whatever changes: complaints filed before or
after the boundaries, moved, rerouted, closed, deleted; areas deleted and re-imported."""

from typing import Any

import numpy as np
from sqlalchemy import Engine, text

from demo.seed import seed_boundaries
from tests.analytics_support import insert_complaints, scratch_database
from tests.conftest import Demo, GraphQLClient
from tests.test_analytics_kpi import lowest_code_owner

AREA_COUNTS = """query($generation: String) {
  areaStats(level: WARD, generation: $generation) { total areas { code count } } }"""
GENERATIONS = ("demo-2025", "demo-2019")


def area_counts(gql: GraphQLClient, generation: str) -> dict[str, int]:
    result = gql.data(AREA_COUNTS, {"generation": generation})["areaStats"]
    return {a["code"]: a["count"] for a in result["areas"]}


def locations(engine: Engine) -> tuple[np.ndarray, np.ndarray]:
    with engine.connect() as conn:
        rows = list(conn.execute(text("SELECT ST_X(location), ST_Y(location) FROM complaint")))
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])


def by_location(demo: Demo, generation: str, engine: Engine) -> dict[str, int]:
    """Every ward of the generation with its complaints by location, by shapely."""
    wards = sorted(demo.areas(generation, "ward"), key=lambda a: a.code)
    counts = lowest_code_owner(wards, *locations(engine))
    return {w.code: counts.get(w.code, 0) for w in wards}


def random_points(demo: Demo, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    city = next(a.geometry for a in demo.areas("demo-2025", "city"))
    west, south, east, north = city.bounds
    rng = np.random.default_rng(seed)
    return rng.uniform(west, east, n), rng.uniform(south, north, n)


def ward_id(engine: Engine, generation: str, code: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT a.id FROM admin_area a JOIN boundary_generation g ON g.id = a.generation_id
            WHERE g.name = :generation AND a.level = 'ward' AND a.code = :code"""),
                            {"generation": generation, "code": code}).scalar_one()


def test_placement_follows_complaints_and_boundaries(demo: Demo) -> None:
    with scratch_database() as (engine, gql):
        # Complaints first, boundaries after: the import places them.
        insert_complaints(engine, *random_points(demo, 400, seed=1))
        seed_boundaries(engine, demo.generations)
        for generation in GENERATIONS:
            assert area_counts(gql, generation) == by_location(demo, generation, engine)
        # Complaints filed after the boundaries (one by one and in a batch).
        lons, lats = random_points(demo, 201, seed=2)
        insert_complaints(engine, lons[:1], lats[:1])
        insert_complaints(engine, lons[1:], lats[1:])
        for generation in GENERATIONS:
            assert area_counts(gql, generation) == by_location(demo, generation, engine)

        # Moved complaints are placed again.
        with engine.begin() as conn:
            moved = conn.execute(text("""
                UPDATE complaint SET location = ST_SetSRID(ST_MakePoint(
                    ST_X(location) + 0.01 * (id % 3 - 1), ST_Y(location) - 0.01), 4326)
                WHERE id % 5 = 0""")).rowcount
        assert moved > 100
        old = by_location(demo, "demo-2019", engine)
        assert area_counts(gql, "demo-2019") == old

        # Routing and status are read live: a complaint routed to a ward of the generation
        # counts there; in another generation, still by location.
        routed_to = sorted(demo.areas("demo-2025", "ward"), key=lambda a: a.code)[0].code
        with engine.begin() as conn:
            conn.execute(text("UPDATE complaint SET ward_id = :ward, status = 'RESOLVED' "
                              "WHERE id % 7 = 0"),
                         {"ward": ward_id(engine, "demo-2025", routed_to)})
            rows = conn.execute(text("SELECT ST_X(location), ST_Y(location), id % 7 = 0 "
                                     "FROM complaint")).all()
        assert area_counts(gql, "demo-2019") == old
        wards = sorted(demo.areas("demo-2025", "ward"), key=lambda a: a.code)
        unrouted = np.array([(x, y) for x, y, rerouted in rows if not rerouted])
        expected = lowest_code_owner(wards, unrouted[:, 0], unrouted[:, 1])
        expected[routed_to] += len(rows) - len(unrouted)
        assert area_counts(gql, "demo-2025") == {w.code: expected.get(w.code, 0) for w in wards}

        # Deleted complaints, areas and parts, and moved parts, leave no trace; a re-import
        # restores the boundaries.
        busiest, second, third = sorted(old, key=lambda code: -old[code])[:3]
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM complaint WHERE id % 11 = 0"))
            conn.execute(text("DELETE FROM admin_area WHERE id = :id"),
                         {"id": ward_id(engine, "demo-2019", busiest)})
            conn.execute(text("DELETE FROM admin_area_part WHERE area_id = :id"),
                         {"id": ward_id(engine, "demo-2019", second)})
            conn.execute(text("UPDATE admin_area_part SET geom = ST_Translate(geom, 1, 0) "
                              "WHERE area_id = :id"), {"id": ward_id(engine, "demo-2019", third)})
        without = by_location(demo, "demo-2019", engine)
        del without[busiest]
        without[second] = without[third] = 0  # listed, but no longer covering any complaint
        assert area_counts(gql, "demo-2019") == without
        seed_boundaries(engine, demo.generations)
        assert area_counts(gql, "demo-2019") == by_location(demo, "demo-2019", engine)
        with engine.connect() as conn:
            stored, placed = conn.execute(text("""
                SELECT (SELECT count(*) FROM complaint_area),
                       (SELECT count(DISTINCT (c.id, p.generation_id, p.level))
                        FROM complaint c JOIN admin_area_part p
                        ON ST_Covers(p.geom, c.location) AND p.level IN ('ward', 'district'))
                """)).one()
        assert stored == placed  # one row per complaint, generation and level it lies in
