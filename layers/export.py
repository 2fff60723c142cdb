"""Whole-layer exports: GeoJSON (RFC 7946), NDJSON, CSV (lon, lat, WKT) and GeoPackage.

Rows come through a server-side cursor a batch at a time and leave as bytes before the next
batch is read, so memory stays flat however many features match. GeoPackages are written by
GDAL (through pyogrio), a batch per append, into a file the caller then streams; pyogrio is
imported there (it brings pandas and geopandas: a fifth of a second for every ``phananh``
command that imports this module and never writes a GeoPackage).
"""

import csv
import io
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, Connection, Select, cast, extract, func, select

from errors import ErrorCode
from layers.features import features_select
from layers.model import Layer, Property
from layers.query import LayerQuery, choose

BATCH = 5_000  # rows per cursor fetch (text formats)
GPKG_BATCH = 50_000  # rows per GeoPackage append
GDAL_UTC = 100  # GDAL's time zone flag for UTC
GPKG_VERSION = "1.2"  # what GDAL ≥ 2.2 (QGIS 3 everywhere) reads without warnings
Progress = Callable[[int], None]
# A layer of any geometry is one GeoPackage layer of type GEOMETRY, which GDAL calls Unknown.
GPKG_TYPES = {"Geometry": "Unknown"}


@dataclass(frozen=True)
class ExportFormat:
    name: str
    media_type: str
    chunks: Callable[[Connection, Layer, LayerQuery, Progress], Iterator[bytes]] | None
    """Bytes of the export, streamed, the query run before the first chunk; None for formats
    written to a file (GeoPackage)."""


def geojson_chunks(conn: Connection, layer: Layer, query: LayerQuery,
                   progress: Progress) -> Iterator[bytes]:
    """A FeatureCollection, one feature per line."""
    batches = _batches(conn, features_select(conn, layer, query), BATCH)
    yield b'{"type":"FeatureCollection","features":[\n'
    separator = ""
    for rows in batches:
        yield (separator + ",\n".join(row.feature for row in rows)).encode()
        separator = ",\n"
        progress(len(rows))
    yield b"\n]}\n"


def ndjson_chunks(conn: Connection, layer: Layer, query: LayerQuery,
                  progress: Progress) -> Iterator[bytes]:
    """Newline-delimited GeoJSON Features (GDAL's GeoJSONSeq reads it)."""
    for rows in _batches(conn, features_select(conn, layer, query), BATCH):
        yield "".join(row.feature + "\n" for row in rows).encode()
        progress(len(rows))


def csv_chunks(conn: Connection, layer: Layer, query: LayerQuery,
               progress: Progress) -> Iterator[bytes]:
    """``id``, the properties, then ``lon``, ``lat`` (a point on the feature, unless the
    layer's properties have them) and ``wkt``."""
    rows_query = layer.select(conn, query).subquery("features")
    anchor = rows_query.c.geom if not layer.polygonal else func.ST_PointOnSurface(
        rows_query.c.geom)
    has_point = {"lon", "lat"} <= {p.name for p in layer.properties}
    columns = [
        rows_query.c.fid.label("id"),
        *(_as_text(p, rows_query.c[p.name]) for p in layer.properties),
        *(() if has_point else (func.ST_X(anchor).label("lon"), func.ST_Y(anchor).label("lat"))),
        func.ST_AsText(rows_query.c.geom).label("wkt"),
    ]
    statement = select(*columns)
    batches = _batches(conn, statement, BATCH)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.name for c in statement.selected_columns])
    for rows in batches:
        writer.writerows(rows)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        progress(len(rows))
    yield buffer.getvalue().encode()


def write_gpkg(conn: Connection, layer: Layer, query: LayerQuery, path: Path,
               progress: Progress) -> None:
    """Write a GeoPackage at ``path`` (replaced if present) in appended batches."""
    rows_query = layer.select(conn, query).subquery("features")
    columns = [rows_query.c.fid.label("id"),
               *(_gpkg_column(p, rows_query.c[p.name]) for p in layer.properties)]
    statement = select(func.ST_AsBinary(rows_query.c.geom).label("wkb"), *columns)
    names = [c.name for c in columns]
    path.unlink(missing_ok=True)
    written = False
    for rows in _batches(conn, statement, GPKG_BATCH):
        _append_gpkg(path, layer, names, rows, append=written)
        written = True
        progress(len(rows))
    if not written:  # an empty layer still has its table and fields
        _append_gpkg(path, layer, names, [], append=False)


FORMATS = {
    f.name: f
    for f in (
        ExportFormat("geojson", "application/geo+json", geojson_chunks),
        ExportFormat("ndjson", "application/x-ndjson", ndjson_chunks),
        ExportFormat("csv", "text/csv; charset=utf-8", csv_chunks),
        ExportFormat("gpkg", "application/geopackage+sqlite3", None),
    )
}


def get_format(name: str) -> ExportFormat:
    return choose(FORMATS, name, ErrorCode.UNSUPPORTED_FORMAT, "format")


def _batches(conn: Connection, statement: Select[Any], size: int) -> Iterator[Sequence[Any]]:
    """Rows of ``statement`` a batch at a time, through a server-side (named) cursor. The
    statement runs and its first batch is read now, not when iteration starts: a format calls
    this before it yields anything, so a failing query (the database down, a bad filter) fails
    before the first byte, while an HTTP answer can still say so."""
    result = conn.execution_options(stream_results=True, yield_per=size).execute(statement)
    batches = result.partitions()
    first = next(batches, None)
    return itertools.chain([first] if first is not None else [], batches)


def _as_text(prop: Property, column: Any) -> Any:
    """Timestamps as RFC 3339 in UTC; the snapshot's session time zone is UTC."""
    if prop.format == "date-time":
        return func.to_char(column, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"').label(prop.name)
    return column.label(prop.name)


def _gpkg_column(prop: Property, column: Any) -> Any:
    """Timestamps as microseconds since the epoch: numpy turns those into datetimes at once."""
    if prop.format == "date-time":
        return cast(extract("epoch", column) * 1_000_000, BigInteger).label(prop.name)
    return column.label(prop.name)


def _append_gpkg(path: Path, layer: Layer, names: list[str], rows: Sequence[Any],
                 append: bool) -> None:
    kinds = {"id": "string", **{p.name: p.format or p.type for p in layer.properties}}
    arrays, masks, offsets = [], [], {}
    for index, name in enumerate(names, start=1):
        values = [row[index] for row in rows]
        missing = np.array([v is None for v in values], dtype=bool)
        kind = kinds[name]
        if kind == "date-time":
            data = np.array([0 if v is None else v for v in values], dtype="int64")
            arrays.append(data.astype("datetime64[us]"))
            offsets[name] = np.full(len(values), GDAL_UTC, dtype="int16")
        elif kind == "integer":
            arrays.append(np.array([0 if v is None else v for v in values], dtype="int64"))
        elif kind == "number":
            arrays.append(np.array([np.nan if v is None else v for v in values],
                                   dtype="float64"))
        else:
            arrays.append(np.array(values, dtype=object))
        masks.append(missing if missing.any() else None)
    geometry = np.array([bytes(row[0]) for row in rows], dtype=object)
    import pyogrio.raw

    pyogrio.raw.write(
        str(path), geometry, arrays, names, field_mask=masks, layer=layer.id, driver="GPKG",
        geometry_type=GPKG_TYPES.get(layer.geometry_type, layer.geometry_type),
        crs="EPSG:4326", encoding="UTF-8", append=append,
        gdal_tz_offsets=offsets, dataset_options={"VERSION": GPKG_VERSION},
    )
