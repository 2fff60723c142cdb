"""Helpers for the analytics tests: synthetic complaints in a scratch database, projection to
UTM with pyproj, and brute-force grids built in Python from the definition of PostGIS's cells.

Nothing here calls the analytics code: these are the independent side of the comparisons.
"""

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import numpy as np
import shapely
from pyproj import Transformer
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app import create_app
from db.engine import make_engine
from settings import Settings
from tests.conftest import GraphQLClient, fresh_database

CENTER_LON, CENTER_LAT = 105.85, 21.03  # the demo city; any test area is placed around it


def utm_epsg(lon: float, lat: float) -> int:
    """The WGS 84 / UTM zone holding (lon, lat), from the zone's definition."""
    return (32600 if lat >= 0 else 32700) + int((lon + 180) // 6) + 1


UTM = utm_epsg(CENTER_LON, CENTER_LAT)
TO_UTM = Transformer.from_crs(4326, UTM, always_xy=True)
TO_LONLAT = Transformer.from_crs(UTM, 4326, always_xy=True)


def project(lons: Sequence[float], lats: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = TO_UTM.transform(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
    return np.asarray(x), np.asarray(y)


def unproject(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = TO_LONLAT.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon), np.asarray(lat)


# --- PostGIS's grid cells, from their documented definition (origin 0,0) -------------------

def hex_centre(i: int, j: int, size: float) -> tuple[float, float]:
    """ST_Hexagon(size, i, j): flat-topped, columns 1.5·size apart, odd ones raised by h/2."""
    h = math.sqrt(3) * size
    return 1.5 * size * i, h * j + (h / 2 if i % 2 else 0.0)


def hex_polygon(i: int, j: int, size: float) -> shapely.Polygon:
    """Vertices at the centre ± (size, 0) and ± (size/2, h/2), as ST_Hexagon builds them."""
    cx, cy = hex_centre(i, j, size)
    h = math.sqrt(3) * size
    return shapely.Polygon([(cx + size * dx, cy + h * dy) for dx, dy in
                            ((-1, 0), (-0.5, -0.5), (0.5, -0.5), (1, 0), (0.5, 0.5), (-0.5, 0.5))])


def square_polygon(i: int, j: int, size: float) -> shapely.Polygon:
    return shapely.box(i * size, j * size, (i + 1) * size, (j + 1) * size)


def hex_cells_near(x: np.ndarray, y: np.ndarray, size: float) -> list[tuple[int, int]]:
    """Every hexagon index pair whose cell could hold a point of the extent of (x, y)."""
    h = math.sqrt(3) * size
    i_range = range(int(np.floor(x.min() / (1.5 * size))) - 2,
                    int(np.ceil(x.max() / (1.5 * size))) + 3)
    j_range = range(int(np.floor(y.min() / h)) - 2, int(np.ceil(y.max() / h)) + 3)
    return [(i, j) for i in i_range for j in j_range]


def brute_force_hex(x: np.ndarray, y: np.ndarray, size: float,
                    tolerance_m: float = 1e-6) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The nearest hexagon centre of every point, searched over all cells of the extent, and
    whether that choice is unambiguous (the runner-up is more than ``tolerance_m`` farther:
    points that close to an edge may go either way between two floating-point projections)."""
    cells = hex_cells_near(x, y, size)
    centres = np.array([hex_centre(i, j, size) for i, j in cells])
    best = np.empty(len(x), dtype=int)
    clear = np.empty(len(x), dtype=bool)
    for start in range(0, len(x), 500):
        dx = x[start:start + 500, None] - centres[None, :, 0]
        dy = y[start:start + 500, None] - centres[None, :, 1]
        distance = np.hypot(dx, dy)
        order = np.argsort(distance, axis=1)[:, :2]
        nearest = np.take_along_axis(distance, order, axis=1)
        best[start:start + 500] = order[:, 0]
        clear[start:start + 500] = nearest[:, 1] - nearest[:, 0] > tolerance_m
    return [cells[k] for k in best], clear


def brute_force_square(x: np.ndarray, y: np.ndarray, size: float,
                       tolerance_m: float = 1e-6) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The square holding each point, by testing the closed squares of the extent with
    shapely; a point covered by several (on an edge) takes the north-/east-most. Points within
    ``tolerance_m`` of a grid line are flagged as not clear."""
    i0, j0 = int(np.floor(x.min() / size)) - 1, int(np.floor(y.min() / size)) - 1
    i1, j1 = int(np.floor(x.max() / size)) + 1, int(np.floor(y.max() / size)) + 1
    cells = [(i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]
    tree = shapely.STRtree([square_polygon(i, j, size) for i, j in cells])
    points = shapely.points(x, y)
    found: dict[int, list[tuple[int, int]]] = {}
    for point_index, cell_index in zip(*tree.query(points, predicate="covered_by"), strict=True):
        found.setdefault(int(point_index), []).append(cells[int(cell_index)])
    chosen = [max(found[k], key=lambda c: (c[1], c[0])) for k in range(len(x))]
    offsets = np.minimum(np.abs(x / size - np.round(x / size)),
                         np.abs(y / size - np.round(y / size))) * size
    return chosen, offsets > tolerance_m


# --- a scratch database for synthetic complaints --------------------------------------------

@contextmanager
def scratch_database() -> Iterator[tuple[Engine, GraphQLClient]]:
    """An empty, migrated database (no boundaries) with a GraphQL client on it."""
    for url in fresh_database():
        settings = Settings(database_url=url)
        engine = make_engine(settings.sqlalchemy_url)
        try:
            with TestClient(create_app(settings, engine)) as client:
                yield engine, GraphQLClient(client)
        finally:
            engine.dispose()


def insert_complaints(engine: Engine, lons: Sequence[float], lats: Sequence[float],
                      created: Sequence[datetime] | None = None,
                      category: str = "other") -> None:
    """Plain rows in one INSERT: only what the analyses read (place, time, category)."""
    n = len(lons)
    created = created or [datetime(2020, 1, 1, tzinfo=UTC)] * n
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO complaint (public_id, description, category_code, location, created_at)
            SELECT 'T-' || md5(random()::text || ord), 'synthetic', :category,
                   ST_SetSRID(ST_MakePoint(lon, lat), 4326), created
            FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]),
                        CAST(:created AS timestamptz[]))
                 WITH ORDINALITY AS t(lon, lat, created, ord)
        """), {"lons": [float(v) for v in lons], "lats": [float(v) for v in lats],
               "created": list(created), "category": category})


def uniform_points(rng: np.random.Generator, n: int, x0: float, y0: float,
                   width_m: float) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform over a square of the UTM plane, as lon/lat."""
    return unproject(x0 + rng.uniform(0, width_m, n), y0 + rng.uniform(0, width_m, n))


def blob(rng: np.random.Generator, n: int, x: float, y: float,
         sigma_m: float) -> tuple[np.ndarray, np.ndarray]:
    return unproject(rng.normal(x, sigma_m, n), rng.normal(y, sigma_m, n))

