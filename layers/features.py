"""GeoJSON features, counts and extents of a layer, as SQL.

PostgreSQL writes each feature's JSON text itself (``ST_AsGeoJSON`` for the geometry,
``json_build_object`` for the allow-listed properties): Python then only joins strings, which
is what lets a million-feature export keep up with ``ogr2ogr``. Features follow RFC 7946:
lon/lat in WGS 84, exterior rings counterclockwise, no ``crs`` member, 7 decimals (about 1 cm).
"""

from itertools import chain
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Subquery, case, func, literal, select

from layers.model import Layer
from layers.query import LayerQuery

COORDINATE_DECIMALS = 7


def features_select(conn: Connection, layer: Layer, query: LayerQuery,
                    fid: str | None = None) -> Select[Any]:
    """(fid, feature) of every matching feature (or of the one with id ``fid``), unordered."""
    rows = layer.select(conn, query)
    if fid is not None:
        rows = rows.where(layer.key == fid)
    found = rows.subquery("features")
    return select(found.c.fid, _feature(layer, found).label("feature"))


def page_select(conn: Connection, layer: Layer, query: LayerQuery, after: str | None,
                limit: int) -> Select[Any]:
    """One page in feature-id order after ``after``, plus one row to tell if a next page exists."""
    page = layer.select(conn, query).order_by(layer.key).limit(limit + 1)
    if after is not None:
        page = page.where(layer.key > after)
    rows = page.subquery("features")
    return select(rows.c.fid, _feature(layer, rows).label("feature")).order_by(rows.c.fid)


def count(conn: Connection, layer: Layer, query: LayerQuery) -> int:
    rows = layer.select(conn, query, properties=()).subquery("features")
    return conn.execute(select(func.count()).select_from(rows)).scalar_one()


def extent(conn: Connection, layer: Layer) -> dict[str, Any]:
    """The layer's bbox [west, south, east, north] and, for temporal layers, its time span."""
    temporal = [layer.property(layer.temporal)] if layer.temporal else []
    rows = layer.select(conn, LayerQuery(), properties=temporal).subquery("features")
    box = func.ST_Extent(rows.c.geom)
    columns = [func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box)]
    if layer.temporal:
        columns += [func.min(rows.c[layer.temporal]), func.max(rows.c[layer.temporal])]
    found = conn.execute(select(*columns)).one()
    return {
        "bbox": list(found[:4]) if found[0] is not None else None,
        "interval": [v.isoformat() for v in found[4:6]] if layer.temporal and found[4] else None,
    }


def _feature(layer: Layer, rows: Subquery) -> ColumnElement[str]:
    geometry = rows.c.geom
    if layer.polygonal:  # only polygons: PostGIS 3.3 reverses lines too
        geometry = case((func.ST_Dimension(geometry) == 2, func.ST_ForcePolygonCCW(geometry)),
                        else_=geometry)
    properties = func.json_build_object(
        *chain.from_iterable((literal(p.name), rows.c[p.name]) for p in layer.properties))
    return func.concat(
        '{"type":"Feature","id":', func.to_json(rows.c.fid),
        ',"geometry":', func.ST_AsGeoJSON(geometry, COORDINATE_DECIMALS),
        ',"properties":', properties, "}")
