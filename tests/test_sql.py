"""Composing SQL (``db.sql``): a parameter is bound once per statement, never overwritten.

The unit tests need no database: they put each value in place of its parameter name, as the
driver does with the statement text and the parameter dict, and read the SQL. A test runs
the one place where an analysis is embedded in a Core statement, the hotspot-grid tiles, and
counts the complaints per hexagon here, from the hexagon's definition, to compare; the last
ones read rows by binary COPY (``copied``) and compare them with a plain SELECT's.
"""

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import Integer, Select, bindparam, event, literal_column, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from analytics.query import complaint_where
from db.complaints import ComplaintFilter
from db.engine import unavailable
from db.sql import ParameterClash, as_core, compose, copied, core, fetch, sql
from errors import ErrorCode
from tests.layers_support import complaint_arrays, tile_of

RESOLVED_ROADS = ComplaintFilter(categories=("pothole", "streetlight"), statuses=("RESOLVED",),
                                 created_from=datetime(2025, 1, 1, tzinfo=UTC))
OPEN_WATER = ComplaintFilter(categories=("flooding",), statuses=("RECEIVED", "ASSIGNED"),
                             created_from=datetime(2025, 6, 1, tzinfo=UTC))


def inlined(statement: str, params: Mapping[str, Any]) -> str:
    """``statement`` with each ``:name`` replaced by its value from ``params``, on one line."""
    def value(match: re.Match[str]) -> str:
        found = params[match.group(1)]
        return f"'{found}'" if isinstance(found, str | datetime) else str(found)

    return " ".join(re.sub(r"(?<!:):(\w+)", value, statement).split())


def inlined_core(statement: Select[Any]) -> str:
    """A Core statement compiled as the driver receives it: text and a dict of values."""
    compiled = statement.compile(dialect=postgresql.psycopg2.dialect(paramstyle="named"))
    return inlined(str(compiled), compiled.params)


def test_two_fragments_binding_one_name_cannot_be_composed() -> None:
    near = sql("ST_DWithin(location, :point, :radius)", point="POINT(1 2)", radius=10)
    far = sql("NOT ST_DWithin(location, :point, :radius)", point="POINT(3 4)", radius=99)
    with pytest.raises(ParameterClash, match=":point"):
        compose("{a} AND {b}", a=near, b=far)
    with pytest.raises(ParameterClash, match=":radius"):  # even an equal value: one binder
        near.bind(radius=10)


def test_fragments_with_distinct_names_merge() -> None:
    box = sql("ST_MakeEnvelope(:w, :s, :e, :n, 4326)", w=105.8, s=21.0, e=105.9, n=21.1)
    statement = compose("SELECT count(*) FROM complaint WHERE {kind} AND location && {box} "
                        "LIMIT :cap", kind="status = 'RESOLVED'", box=box).bind(cap=5)
    assert dict(statement.params) == {"w": 105.8, "s": 21.0, "e": 105.9, "n": 21.1, "cap": 5}
    assert inlined(statement.text, statement.params) == (
        "SELECT count(*) FROM complaint WHERE status = 'RESOLVED' AND location && "
        "ST_MakeEnvelope(105.8, 21.0, 105.9, 21.1, 4326) LIMIT 5")


def test_two_compilations_of_one_core_filter_keep_their_own_values() -> None:
    """The same filter shape compiled twice (same Core parameter names before the bridge) and
    embedded in one statement under two aliases: each condition keeps its own values."""
    statement = compose("SELECT count(*) FILTER (WHERE {roads}) AS roads, "
                        "count(*) FILTER (WHERE {water}) AS water FROM complaint",
                        roads=complaint_where(RESOLVED_ROADS, "roads"),
                        water=complaint_where(OPEN_WATER, "water"))
    rendered = inlined(statement.text, statement.params)
    roads, water = rendered.split(" AS roads, ")
    assert "complaint.category_code IN ('pothole', 'streetlight')" in roads
    assert "complaint.status IN ('RESOLVED')" in roads
    assert "'2025-01-01 00:00:00+00:00'" in roads
    assert "complaint.category_code IN ('flooding')" in water
    assert "complaint.status IN ('RECEIVED', 'ASSIGNED')" in water
    assert "'2025-06-01 00:00:00+00:00'" in water
    with pytest.raises(ParameterClash):  # one alias twice is a clash, not a silent overwrite
        compose("{a} OR {b}", a=complaint_where(RESOLVED_ROADS), b=complaint_where(OPEN_WATER))


def test_a_fragment_inside_a_core_statement_keeps_its_values() -> None:
    """Core itself would give two parameters called ``cap`` the last value; as_core keeps the
    fragment's apart from the statement's own."""
    inner = as_core(sql("SELECT id FROM complaint LIMIT :cap", cap=3)).columns(id=Integer)
    outer = select(literal_column("id")).select_from(inner.subquery("firsts")).where(
        literal_column("id") < bindparam("cap", 1000))
    assert inlined_core(outer) == ("SELECT id FROM (SELECT id FROM complaint LIMIT 3) AS firsts "
                              "WHERE id < 1000")


def test_core_aliases_are_plain_names() -> None:
    with pytest.raises(ValueError, match="alias"):
        core([], "two words")


# The one analysis embedded in a Core statement: hotspot-grid tiles ----------------------

CELL_M = 500.0  # the layer's hexagon edge
EDGE_M = 0.01  # points this close to a hexagon's edge may be counted on either side


def hexagon(i: int, j: int, size: float) -> shapely.Polygon:
    """PostGIS's ST_Hexagon(size, i, j): flat-topped, centred at (1.5·s·i, h·j + h/2 for odd
    columns), h = √3·s."""
    h = math.sqrt(3) * size
    cx, cy = 1.5 * size * i, h * j + (h / 2 if i % 2 else 0.0)
    angles = np.radians(np.arange(0, 360, 60))
    return shapely.Polygon(np.column_stack([cx + size * np.cos(angles),
                                            cy + size * np.sin(angles)]))


def test_hotspot_grid_tiles_count_like_brute_force(client: TestClient, engine: Any) -> None:
    """With filters, so the filter's parameters sit inside the tile's own Core statement, every
    hexagon of a tile holds the number of matching complaints inside it, counted here."""
    rows = complaint_arrays(engine, lon="ST_X(location)", lat="ST_Y(location)",
                            status="status", category="category_code", created="created_at")
    created = np.sort(rows["created"])
    start, end = created[len(created) // 5], created[4 * len(created) // 5]
    categories = sorted(set(rows["category"]))[::2]
    keep = (np.isin(rows["status"], ["RESOLVED", "CLOSED"]) & np.isin(rows["category"], categories)
            & (rows["created"] >= start) & (rows["created"] <= end))
    zone = int((np.median(rows["lon"]) + 180) // 6) + 1
    utm = Transformer.from_crs(4326, 32600 + zone, always_xy=True)
    x, y = utm.transform(rows["lon"][keep], rows["lat"][keep])
    z, tx, ty = tile_of(float(np.median(rows["lon"][keep])), float(np.median(rows["lat"][keep])),
                        13)
    params = [("status", "RESOLVED,CLOSED"), ("category_code", ",".join(categories)),
              ("datetime", f"{start.isoformat()}/{end.isoformat()}")]
    response = client.get(f"/tiles/hotspot-grid/{z}/{tx}/{ty}.mvt", params=params)
    assert response.status_code == 200, response.text
    cells = mapbox_vector_tile.decode(response.content)["hotspot-grid"]["features"]
    assert len(cells) > 10
    for cell in cells:
        polygon = hexagon(cell["properties"]["i"], cell["properties"]["j"], CELL_M)
        inside = shapely.contains_xy(polygon, x, y)
        near_edge = shapely.distance(polygon.exterior, shapely.points(x, y)) <= EDGE_M
        count = cell["properties"]["count"]
        assert (inside & ~near_edge).sum() <= count <= (inside | near_edge).sum(), cell


def test_copied_rows_are_the_bytes_postgresql_sends(engine: Any) -> None:
    """``copied`` (binary COPY) reads what a plain SELECT reads, as the types' binary
    output: NULLs, text with quotes bound as a value, every byte value, an empty ``bytea``;
    listeners of the engine see the statement sent."""
    every_byte = bytes(range(256))
    statement = sql("""
        SELECT n, CASE WHEN n % 2 = 0 THEN NULL ELSE n - 3 END AS odd, :name || n AS label,
               CASE n WHEN 1 THEN :bytes ELSE ''::bytea END AS raw
        FROM generate_series(1, 3) AS n ORDER BY n""", name="O'Brien; «x» ", bytes=every_byte)
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.connect() as conn:
            plain = [tuple(row) for row in fetch(conn, statement)]
            seen.clear()
            rows = copied(conn, statement)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(seen) == 1 and "generate_series" in seen[0] and "O''Brien" in seen[0]
    assert bytes(plain[0][3]) == every_byte and len(rows) == len(plain) == 3
    for (n, odd, label, raw), found in zip(plain, rows, strict=True):
        assert found == (n.to_bytes(4, "big"),
                         None if odd is None else odd.to_bytes(4, "big", signed=True),
                         label.encode(), bytes(raw))


def test_copied_errors_leave_as_sqlalchemy_errors(engine: Any) -> None:
    """A statement over its timeout is the retryable QUERY_TIMEOUT, as from any statement;
    a connection that died is marked invalidated, so that reads are tried once more on a new
    one (``db.engine.retrying``)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SET LOCAL statement_timeout = 50")
        with pytest.raises(OperationalError) as timed_out:
            copied(conn, sql("SELECT pg_sleep(2)"))
    assert unavailable(timed_out.value, None).code is ErrorCode.QUERY_TIMEOUT
    with engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        with pytest.raises(OperationalError) as lost:
            copied(conn, sql("SELECT 1"))
    assert lost.value.connection_invalidated
