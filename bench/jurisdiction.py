"""Jurisdiction lookup and complaint pages: the API against raw SQL doing the same job.

Boundaries: Hanoi's 126 real wards (from ../shared/data/hanoi, when present) or the demo city.
Measured in one run, in one process, on one database (``<name>_lookup``):
- 10,000 points → ward: GraphQL ``jurisdictions`` (full HTTP stack, in process) vs the raw SQL
  join on the subdivided parts vs naive ``ST_Covers`` on whole polygons;
- one page of 100 complaints with ward, district and category: GraphQL vs one raw SQL statement
  that builds the same JSON in PostGIS.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import shapely
from sqlalchemy import Engine, TextClause, text
from starlette.testclient import TestClient

from app import create_app
from bench.common import bench_settings, complaint_count, console, measure, print_table
from db.engine import make_engine
from demo import seed as demo_seed
from demo.complaints import generate_complaints
from geo.boundaries import BoundaryFile, import_boundaries
from geo.jurisdiction import float_array
from settings import Settings

HANOI = Path(__file__).resolve().parents[2] / "shared" / "data" / "hanoi"
POINTS = 10_000
COMPLAINTS = 100_000



def raw_ward_lookup(table: str) -> TextClause:
    """Points → lowest ward code covering each, joined on ``table``'s GiST-indexed geometry."""
    return text(f"""
        SELECT DISTINCT ON (t.ord) t.ord, b.code
        FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY
             AS t(lon, lat, ord)
        JOIN {table} b
          ON b.level = 'ward' AND ST_Covers(b.geom, ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326))
        ORDER BY t.ord, b.code""")


RAW_SUBDIVIDED = raw_ward_lookup("admin_area_part")  # the parts cut by ST_Subdivide
RAW_NAIVE = raw_ward_lookup("admin_area")  # whole ward polygons
RAW_PAGE = text("""
    SELECT json_agg(json_build_object(
        'id', c.public_id, 'status', c.status, 'createdAt', c.created_at,
        'location', json_build_object('type', 'Point',
                                      'coordinates', json_build_array(ST_X(c.location),
                                                                      ST_Y(c.location))),
        'category', json_build_object('code', cat.code, 'nameVi', cat.name_vi),
        'ward', json_build_object('code', w.code, 'name', w.name),
        'district', CASE WHEN d.id IS NULL THEN NULL
                         ELSE json_build_object('code', d.code, 'name', d.name) END)
        ORDER BY c.created_at DESC, c.id DESC)
    FROM (SELECT * FROM complaint ORDER BY created_at DESC, id DESC LIMIT 100) c
    JOIN category cat ON cat.code = c.category_code
    LEFT JOIN admin_area w ON w.id = c.ward_id
    LEFT JOIN admin_area d ON d.id = c.district_id""")
GRAPHQL_LOOKUP = """query($points: [PointInput!]!) {
  jurisdictions(points: $points) { ward { code } } }"""
GRAPHQL_PAGE = """{ complaints(first: 100) { edges { node {
  id status createdAt location category { code nameVi } ward { code name }
  district { code name } } } } }"""


def load_boundaries(engine: Engine) -> tuple[str, shapely.Geometry]:
    """Import Hanoi's wards (or the demo city) once; return a label and the city outline."""
    with engine.connect() as conn:
        loaded = conn.execute(text("SELECT count(*) FROM admin_area")).scalar_one()
    if (HANOI / "hanoi_wards_2025_126.geojson").exists():
        if not loaded:
            for name, level in (("01_ha_noi_province.geojson", "city"),
                                ("hanoi_wards_2025_126.geojson", "ward")):
                import_boundaries(engine, BoundaryFile(HANOI / name, level), "hanoi-2025")
        with engine.connect() as conn:
            outline = shapely.from_wkb(bytes(conn.execute(text(
                "SELECT ST_AsBinary(geom) FROM admin_area WHERE level = 'city'")).scalar_one()))
        return "Hanoi, 126 real wards", outline
    generations = demo_seed.build_demo_city()
    if not loaded:
        demo_seed.seed_boundaries(engine, generations[-1:])
    outline = next(a.geometry for a in generations[-1].areas if a.level == "city")
    return "demo city, 126 wards", outline


def load_complaints(engine: Engine, outline: shapely.Geometry) -> None:
    if complaint_count(engine) == COMPLAINTS:
        return
    console.print(f"Seeding {COMPLAINTS:,} complaints…")
    now = datetime.now(UTC).replace(microsecond=0)
    demo_seed.seed_complaints(engine, generate_complaints(COMPLAINTS, outline, now=now),
                              COMPLAINTS)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def points_inside(outline: shapely.Geometry, n: int) -> tuple[list[float], list[float]]:
    """``n`` uniform random points inside the city, so every one of them finds a ward."""
    rng = np.random.default_rng(7)
    west, south, east, north = outline.bounds
    lons, lats = np.empty(0), np.empty(0)
    while len(lons) < n:
        x, y = rng.uniform(west, east, n), rng.uniform(south, north, n)
        keep = shapely.contains_xy(outline, x, y)
        lons, lats = np.concatenate([lons, x[keep]]), np.concatenate([lats, y[keep]])
    return lons[:n].tolist(), lats[:n].tolist()


def raw_in_parallel(engine: Engine, lons: list[float], lats: list[float],
                    settings: Settings) -> None:
    """The raw subdivided join, split in chunks run at once on separate connections, as the
    API does: what parallelism alone buys, so the API's own overhead stays visible."""
    size = settings.lookup_chunk_points

    def chunk(start: int) -> None:
        with engine.connect() as conn:
            conn.execute(RAW_SUBDIVIDED, {"lons": float_array(lons[start : start + size]),
                                          "lats": float_array(lats[start : start + size])}).all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(chunk, range(0, len(lons), size)))


def main() -> None:
    settings = bench_settings("lookup")
    engine = make_engine(settings.sqlalchemy_url)
    label, outline = load_boundaries(engine)
    load_complaints(engine, outline)
    lons, lats = points_inside(outline, POINTS)
    params = {"lons": float_array(lons), "lats": float_array(lats)}
    variables = {"points": [{"lon": x, "lat": y} for x, y in zip(lons, lats, strict=True)]}

    chunks = -(-POINTS // settings.lookup_chunk_points)
    with TestClient(create_app(settings, engine)) as client, engine.connect() as conn:
        def graphql(body: bytes) -> None:
            """POST a request encoded beforehand, as the raw SQL gets its parameters ready-made;
            the answer is checked once, below, outside the timed runs."""
            response = client.post("/graphql", content=body,
                                   headers={"content-type": "application/json"})
            assert response.status_code == 200

        lookup_body = orjson.dumps({"query": GRAPHQL_LOOKUP, "variables": variables})
        page_body = orjson.dumps({"query": GRAPHQL_PAGE})

        # The three lookups must agree before their speed means anything.
        subdivided = dict(conn.execute(RAW_SUBDIVIDED, params).all())
        naive = dict(conn.execute(RAW_NAIVE, params).all())
        api = client.post("/graphql", content=lookup_body,
                          headers={"content-type": "application/json"}).json()
        api_codes = {i + 1: r["ward"]["code"]
                     for i, r in enumerate(api["data"]["jurisdictions"]) if r["ward"]}
        assert subdivided == naive == api_codes, "lookups disagree"
        page = client.post("/graphql", content=page_body,
                           headers={"content-type": "application/json"}).json()
        raw_page = conn.execute(RAW_PAGE).scalar_one()
        assert [e["node"]["id"] for e in page["data"]["complaints"]["edges"]] == \
            [c["id"] for c in raw_page], "pages disagree"

        raw = measure(lambda: conn.execute(RAW_SUBDIVIDED, params).all())
        chunked = measure(lambda: raw_in_parallel(engine, lons, lats, settings))
        whole = measure(lambda: conn.execute(RAW_NAIVE, params).all(), repeat=3)
        through_api = measure(lambda: graphql(lookup_body))
        page_raw = measure(lambda: conn.execute(RAW_PAGE).scalar_one(), repeat=20)
        page_api = measure(lambda: graphql(page_body), repeat=20)

    rows = [
        ("raw SQL, subdivided parts (baseline)", raw.median * 1e3, POINTS / raw.median, 1.0),
        ("raw SQL, naive ST_Covers on whole wards", whole.median * 1e3, POINTS / whole.median,
         whole.median / raw.median),
        (f"raw SQL, subdivided, {chunks} chunks on parallel connections", chunked.median * 1e3,
         POINTS / chunked.median, chunked.median / raw.median),
        (f"GraphQL jurisdictions (HTTP in process; {chunks} parallel chunks)",
         through_api.median * 1e3,
         POINTS / through_api.median, through_api.median / raw.median),
    ]
    print_table(f"Batch jurisdiction of {POINTS:,} points — {label} "
                f"({len(subdivided):,} inside a ward)",
                ["job", "median ms", "points/s", "× baseline"], rows)
    print_table(f"One page of 100 complaints with ward, district, category "
                f"({COMPLAINTS:,} in the table)",
                ["job", "median ms", "p95 ms", "× baseline"],
                [("raw SQL building the JSON (baseline)", page_raw.median * 1e3,
                  page_raw.p95 * 1e3, 1.0),
                 ("GraphQL complaints(first: 100)", page_api.median * 1e3, page_api.p95 * 1e3,
                  page_api.median / page_raw.median)])
    console.print(f"CPU cores: {os.cpu_count()}; repeats: lookups 5 (naive 3), pages 20; "
                  "one warm-up run each.")
    engine.dispose()
