"""The measures stored per complaint (migration 0007) against independent computations, and
analyses that cross a UTM zone edge, where stored coordinates of the other zone must not be
used as they are."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pyproj import Transformer
from sqlalchemy import Engine, text

from tests.analytics_support import (
    brute_force_square,
    insert_complaints,
    project,
    scratch_database,
    utm_epsg,
)
from tests.conftest import GraphQLClient

ZONE_EDGE = 108.0  # between UTM zones 48N (102–108°E) and 49N (108–114°E)
GRID = """query($bbox: BBoxInput) { grid(shape: SQUARE, cellSizeM: 2000, bbox: $bbox) {
    srid total cells { i j count } } }"""


@pytest.fixture(scope="module")
def scratch() -> Iterator[tuple[Engine, GraphQLClient]]:
    with scratch_database() as made:
        yield made


def stored(engine: Engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(text("""
            SELECT id, ST_X(location) AS lon, ST_Y(location) AS lat, utm_epsg, utm_x, utm_y,
                   created_at, first_action_at, resolved_at, hours_to_first_action,
                   hours_to_resolution
            FROM complaint ORDER BY id""")))


def test_measures_follow_every_write(scratch: tuple[Engine, GraphQLClient]) -> None:
    """Coordinates in each point's own zone equal pyproj's; hours equal Python's; both are
    recomputed when the row changes (no write path can leave them stale)."""
    engine, _ = scratch
    rng = np.random.default_rng(7)
    lons = ZONE_EDGE + rng.uniform(-0.5, 0.5, 60)
    lats = rng.uniform(20.5, 21.5, 60)
    created = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    insert_complaints(engine, lons, lats, [created] * 60)
    with engine.begin() as conn:
        conn.execute(text("""
            UPDATE complaint
            SET first_action_at = created_at + make_interval(secs => id * 977.25),
                resolved_at = created_at + make_interval(days => CAST(id % 9 AS integer),
                                                         secs => id * 0.5)
            WHERE id % 2 = 0"""))
        conn.execute(text("UPDATE complaint SET location = ST_Translate(location, 0.75, 0) "
                          "WHERE id % 3 = 0"))
    rows = stored(engine)
    assert {r.utm_epsg for r in rows} == {32648, 32649}, "the points straddle the zone edge"
    for r in rows:
        assert r.utm_epsg == utm_epsg(r.lon, r.lat)
        x, y = Transformer.from_crs(4326, r.utm_epsg, always_xy=True).transform(r.lon, r.lat)
        assert abs(r.utm_x - x) < 1e-3 and abs(r.utm_y - y) < 1e-3, r.id
        for at, hours in ((r.first_action_at, r.hours_to_first_action),
                          (r.resolved_at, r.hours_to_resolution)):
            if at is None:
                assert hours is None
            else:
                assert hours == pytest.approx((at - r.created_at) / timedelta(hours=1),
                                              rel=0, abs=1e-12), r.id


def test_grid_across_a_zone_edge_projects_the_other_zone(
        scratch: tuple[Engine, GraphQLClient]) -> None:
    """A grid laid in zone 48N (the bbox's centre) counts the points stored in zone 49N by
    their 48N coordinates: the counts equal a brute force over pyproj's 48N projection."""
    engine, gql = scratch
    bbox = {"west": 107.2, "south": 20.5, "east": 108.6, "north": 21.5}
    result = gql.data(GRID, {"bbox": bbox})["grid"]
    rows = [r for r in stored(engine) if bbox["west"] <= r.lon <= bbox["east"]
            and bbox["south"] <= r.lat <= bbox["north"]]
    assert result["srid"] == 32648 and any(r.utm_epsg == 32649 for r in rows)
    assert result["total"] == len(rows)
    x, y = project([r.lon for r in rows], [r.lat for r in rows])
    expected, clear = brute_force_square(x, y, 2_000.0)
    assert all(clear), "no point of this draw lies within a micrometre of an edge"
    got = {(c["i"], c["j"]): c["count"] for c in result["cells"]}
    want: dict[tuple[int, int], int] = {}
    for cell in expected:
        want[cell] = want.get(cell, 0) + 1
    assert got == want
