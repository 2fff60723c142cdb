"""Routing and working-time due dates, per complaint, against the work a bulk load does
anyway: placing the complaint in its ward, district and city.

On the demo city with its organisation (``<name>_routing``), for 10,000 points inside the
city, in one run on one database:
- placement: ``covering_areas`` in the generations in force (the baseline);
- routing: ``route_complaint`` for those areas (rules, then the ward's People's Committee);
- due dates: ``working_due`` for SLAs of 24 and 240 working hours, against the plain
  ``created_at + interval`` it replaced.
"""

from datetime import date

import numpy as np
import shapely
from sqlalchemy import text

from bench.common import bench_settings, measure, print_table
from db.engine import make_engine
from demo.city import build_demo_city, city_outline
from demo.seed import seed_boundaries, seed_organisation
from geo.jurisdiction import AREAS_OF_ROWS, float_array

POINTS = 10_000
POINTS_SQL = """(SELECT ord AS key, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS location
                 FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]))
                      WITH ORDINALITY AS t(lon, lat, ord))"""
PLACE = text(f"SELECT count(*) FROM ({AREAS_OF_ROWS.format(rows=POINTS_SQL)}) AS areas")
ROUTE = text(f"""
    SELECT count(r.agency_code) FROM ({AREAS_OF_ROWS.format(rows=POINTS_SQL)}) AS areas
    CROSS JOIN LATERAL route_complaint(:category, areas.ward_id, areas.district_id,
                                       areas.city_id, now()) AS r""")
STARTS = "generate_series(1, :n) AS i, LATERAL (SELECT now() + i * interval '37 minutes') AS s(t)"
PLAIN_DUE = text(f"SELECT count(s.t + make_interval(hours => :hours)) FROM {STARTS}")
WORKING_DUE = text(f"SELECT count(working_due(s.t, :hours)) FROM {STARTS}")


def main() -> None:
    engine = make_engine(bench_settings("routing").sqlalchemy_url)
    with engine.connect() as conn:
        ready = conn.execute(text("SELECT count(*) FROM agency")).scalar_one()
    generations = build_demo_city()
    if not ready:
        seed_boundaries(engine, generations)
        seed_organisation(engine, generations)
    outline = city_outline(generations)
    rng = np.random.default_rng(7)
    west, south, east, north = outline.bounds
    lons = rng.uniform(west, east, POINTS * 2)
    lats = rng.uniform(south, north, POINTS * 2)
    inside = [(float(x), float(y)) for x, y in zip(lons, lats, strict=True)
              if outline.contains(shapely.Point(x, y))][:POINTS]
    params = {"lons": float_array([p[0] for p in inside]),
              "lats": float_array([p[1] for p in inside]), "at": date.today()}
    with engine.connect() as conn:
        place = measure(lambda: conn.execute(PLACE, params).scalar_one())
        rows = []
        for category in ("environment.waste", "construction.illegal"):
            routed = measure(lambda c=category: conn.execute(
                ROUTE, {**params, "category": c}).scalar_one())
            rows.append((f"place + route, {category}", routed.median * 1000,
                         routed.median / place.median))
        plain = measure(lambda: conn.execute(PLAIN_DUE, {"n": POINTS, "hours": 24}).scalar_one())
        for hours in (24, 240):
            due = measure(lambda h=hours: conn.execute(
                WORKING_DUE, {"n": POINTS, "hours": h}).scalar_one(), repeat=3)
            rows.append((f"working_due, {hours} h SLA", due.median * 1000,
                         due.median / place.median))
    print_table(f"Routing and due dates, {len(inside):,} complaints (median of runs)",
                ["job", "ms", "× placement"],
                [("placement (covering_areas), baseline", place.median * 1000, 1.0), *rows,
                 ("created_at + interval (before)", plain.median * 1000,
                  plain.median / place.median)])
