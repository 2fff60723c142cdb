"""Footprints (issue 14): what lines and polygons cost next to points, measured in one run.

* **within over 1,000,000 mixed complaints** (70 % points, 20 % lines of 50–400 m, 10 % polygons
  of 20–120 m across): the filter as the API runs it, on the footprint's GiST index
  (``ST_Intersects(area, footprint)``), against the point-only query it replaced
  (``ST_Covers(area, location)`` on the point's index), for areas of three sizes.
* **submission of a 200-vertex polygon** (validation, extent check, shares, responsible ward,
  border candidates, insert) against the submission of a point, each in a transaction rolled
  back afterwards.

The complaints are generated here and loaded with COPY (the footprint only: the trigger of
migration 0011 sets each representative point) into their own database, ``<name>_footprints``,
on the demo city's boundaries.
"""

import io
import time
from collections.abc import Iterator

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import mapping
from sqlalchemy import Engine, text

from bench.common import Timing, bench_settings, console, measure, print_table
from db.complaints import ComplaintFilter, count
from db.engine import make_engine
from demo.city import build_demo_city
from demo.seed import reset, seed_boundaries
from geo.validation import parse_footprint
from settings import Settings
from workflow.submission import FootprintRules, Submission, submit

COMPLAINTS = 1_000_000
BATCH = 100_000
SHARES = {"point": 0.7, "line": 0.2, "polygon": 0.1}
UTM = 32648  # the demo city (Hanoi) lies in UTM zone 48N
AREAS_KM2 = (1.0, 10.0, 100.0)  # squares around the city's centre
SUBMISSIONS = 30


def main() -> None:
    settings = bench_settings("footprints")
    engine = make_engine(settings.sqlalchemy_url)
    outline = ensure_data(engine)
    within_table(engine, outline)
    submission_table(engine, settings, outline)


def ensure_data(engine: Engine) -> shapely.Geometry:
    """The demo city's boundaries in force and COMPLAINTS mixed footprints (kept between runs)."""
    generation = build_demo_city()[-1]
    outline = next(a.geometry for a in generation.areas if a.level == "city")
    with engine.connect() as conn:
        found = conn.execute(text("SELECT count(*) FROM complaint")).scalar_one()
    if found == COMPLAINTS:
        return outline
    reset(engine)
    seed_boundaries(engine, [generation])
    console.print(f"Loading {COMPLAINTS:,} mixed footprints with COPY…")
    start = time.perf_counter()
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            for done, chunk in enumerate(footprint_rows(outline, COMPLAINTS), start=1):
                cursor.copy_expert("COPY complaint (public_id, description, category_code, "
                                   "footprint, created_at) FROM STDIN", chunk)
                console.print(f"  {done * BATCH:,}", end="\r")
            cursor.execute("ANALYZE complaint")
        raw.commit()
    finally:
        raw.close()
    console.print(f"  loaded in {time.perf_counter() - start:.0f} s")
    return outline


def footprint_rows(outline: shapely.Geometry, n: int) -> Iterator[io.StringIO]:
    """COPY text of ``n`` complaints inside the city's box, BATCH at a time: points, lines of
    two to five vertices (random steps of about 100 m) and rectangles of 20–120 m a side,
    drawn in the UTM plane and written as EWKT (vectorised: a million in a minute)."""
    rng = np.random.default_rng(14)
    to_utm = Transformer.from_crs(4326, UTM, always_xy=True)
    to_lonlat = Transformer.from_crs(UTM, 4326, always_xy=True)
    west, south, east, north = shapely.bounds(shapely.transform(
        outline, lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1]))))
    for first in range(0, n, BATCH):
        size = min(BATCH, n - first)
        x, y = rng.uniform(west, east, size), rng.uniform(south, north, size)
        kinds = rng.choice(len(SHARES), size, p=list(SHARES.values()))  # 0 point, 1 line, 2 box
        vertices = np.where(kinds == 0, 1, np.where(kinds == 1, rng.integers(2, 6, size), 5))
        owner = np.repeat(np.arange(size), vertices)
        step = np.arange(len(owner)) - np.repeat(np.cumsum(vertices) - vertices, vertices)
        dx, dy = np.zeros(len(owner)), np.zeros(len(owner))
        lines = kinds[owner] == 1
        walk = rng.normal(0, 100, (len(owner), 2)) * (step > 0)[:, None]
        first_vertex = (np.cumsum(vertices) - vertices)[owner]
        for axis, out in ((0, dx), (1, dy)):  # a line's vertices: its own cumulative walk
            cumulative = np.cumsum(walk[:, axis])
            out[lines] = (cumulative - cumulative[first_vertex])[lines]
        width, height = rng.uniform(20, 120, size), rng.uniform(20, 120, size)
        boxes = kinds[owner] == 2
        corner = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]])[np.minimum(step, 4)]
        dx[boxes] = (corner[:, 0] * width[owner])[boxes]
        dy[boxes] = (corner[:, 1] * height[owner])[boxes]
        lons, lats = to_lonlat.transform(x[owner] + dx, y[owner] + dy)
        pairs = np.char.add(np.char.add(np.round(lons, 7).astype(str), " "),
                            np.round(lats, 7).astype(str))
        ends = np.cumsum(vertices)
        buffer = io.StringIO()
        for i in range(size):
            coordinates = ",".join(pairs[ends[i] - vertices[i]:ends[i]])
            wkt = ("POINT(" if kinds[i] == 0 else "LINESTRING(" if kinds[i] == 1
                   else "POLYGON((") + coordinates + ("))" if kinds[i] == 2 else ")")
            buffer.write(f"B-{first + i}\tbench\tother\tSRID=4326;{wkt}\t2025-01-01\n")
        buffer.seek(0)
        yield buffer


def square_km2(outline: shapely.Geometry, km2: float) -> shapely.Geometry:
    to_utm = Transformer.from_crs(4326, UTM, always_xy=True)
    to_lonlat = Transformer.from_crs(UTM, 4326, always_xy=True)
    cx, cy = to_utm.transform(outline.centroid.x, outline.centroid.y)
    half = 500 * km2 ** 0.5
    square = shapely.box(cx - half, cy - half, cx + half, cy + half)
    return shapely.transform(square, lambda xy: np.column_stack(
        to_lonlat.transform(xy[:, 0], xy[:, 1])))


POINT_ONLY = text("""SELECT count(*) FROM complaint
    WHERE ST_Covers(ST_SetSRID(ST_GeomFromWKB(:wkb), 4326), location)""")


def within_table(engine: Engine, outline: shapely.Geometry) -> None:
    rows = []
    with engine.connect() as conn:
        for km2 in AREAS_KM2:
            area = square_km2(outline, km2)
            f = ComplaintFilter(within=area)
            by_footprint = count(conn, f)
            by_point = conn.execute(POINT_ONLY, {"wkb": shapely.to_wkb(area)}).scalar_one()
            footprint = measure(lambda f=f: count(conn, f), repeat=7)
            point = measure(lambda area=area: conn.execute(
                POINT_ONLY, {"wkb": shapely.to_wkb(area)}).scalar_one(), repeat=7)
            rows.append((f"{km2:g} km²", by_point, by_footprint, point.median * 1000,
                         footprint.median * 1000, footprint.median / point.median))
    print_table(f"within over {COMPLAINTS:,} mixed complaints (median of 7, ms)",
                ["area", "matched (points)", "matched (footprints)", "point-only ms",
                 "footprint ms", "ratio"], rows)


def submission_table(engine: Engine, settings: Settings, outline: shapely.Geometry) -> None:
    rules = FootprintRules.of(settings)
    centre = outline.representative_point()
    circle = centre.buffer(0.002, quad_segs=50)  # about 220 m across, 15 ha
    polygon = shapely.Polygon(circle.exterior.coords[:200])
    assert shapely.get_num_coordinates(polygon) == 201  # 200 vertices and the closing one
    as_point = Submission(category_code="other", description="bench", lon=centre.x,
                          lat=centre.y)
    as_polygon = Submission(category_code="other", description="bench",
                            footprint=parse_footprint(mapping(polygon), 10_000))

    def run(submission: Submission) -> Timing:
        def once() -> None:
            with engine.connect() as conn:
                transaction = conn.begin()
                submit(conn, submission, rules)
                transaction.rollback()
        return measure(once, repeat=SUBMISSIONS, warmup=3)

    def validate_and_run() -> None:
        parse_footprint(mapping(polygon), 10_000)

    point, shaped = run(as_point), run(as_polygon)
    validation = measure(validate_and_run, repeat=SUBMISSIONS)
    print_table(f"submission, median of {SUBMISSIONS} (ms; rolled back)",
                ["submission", "median ms", "p95 ms", "ratio"],
                [("point", point.median * 1000, point.p95 * 1000, 1.0),
                 ("200-vertex polygon", shaped.median * 1000, shaped.p95 * 1000,
                  shaped.median / point.median),
                 ("(its validation in shapely)", validation.median * 1000,
                  validation.p95 * 1000, validation.median / point.median)])


if __name__ == "__main__":
    main()
