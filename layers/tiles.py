"""Mapbox Vector Tiles (2.1) and TileJSON 3.0, made by PostGIS in one statement per tile.

``ST_TileEnvelope`` gives the tile's Web-Mercator square; features are found with ``&&``
against that square grown by the tile buffer (so the GiST index does the work, and points just
outside the edge still reach the neighbouring tile's buffer, as symbols need); at most
``cap`` of them are taken; ``ST_AsMVTGeom`` moves them into tile coordinates and ``ST_AsMVT``
encodes the layer. A layer of footprints (complaints) is drawn at each feature's point, and its
lines and polygons come in a second layer of the same tile (``<id>-footprints``).
"""

import math
import re
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    Integer,
    Select,
    Text,
    bindparam,
    case,
    func,
    literal_column,
    null,
    select,
)

from db.engine import Work, service_engine
from db.prepared import prepared
from errors import ErrorCode, PhananhError
from layers.model import Layer
from layers.query import BBox, LayerQuery
from layers.versions import Lru, version_column
from settings import Settings

EXTENT = 4096  # tile coordinate units per side
BUFFER = 64  # units of buffer around the tile (1/64 of its side)
MAX_ZOOM = 24
WEB_MERCATOR_HALF = 20037508.342789244  # metres from the origin to the edge of the square world
METRES_PER_DEGREE = 111_320.0  # spherical, along a meridian: enough for a margin
TILEJSON_TYPES = {"string": "String", "integer": "Number", "number": "Number"}
_COORDINATE = re.compile(r"^\d{1,8}$")


@dataclass(frozen=True)
class Tile:
    z: int
    x: int
    y: int


def parse_tile(z: str, x: str, y: str) -> Tile:
    """Tile coordinates from a URL, or a BAD_TILE error that says what is wrong."""
    if not all(_COORDINATE.match(v) for v in (z, x, y)):
        raise PhananhError(ErrorCode.BAD_TILE, "z, x and y must be non-negative integers.",
                           z=z, x=x, y=y)
    tile = Tile(int(z), int(x), int(y))
    if tile.z > MAX_ZOOM:
        raise PhananhError(ErrorCode.BAD_TILE, f"Zoom must be within 0..{MAX_ZOOM}.", z=tile.z)
    size = 1 << tile.z
    if tile.x >= size or tile.y >= size:
        raise PhananhError(ErrorCode.BAD_TILE,
                           f"At zoom {tile.z}, x and y must be within 0..{size - 1}.",
                           z=tile.z, x=tile.x, y=tile.y)
    return tile


def tile_containing(lon: float, lat: float, z: int) -> Tile:
    """The Web-Mercator tile at zoom ``z`` that holds the point (lon, lat)."""
    n = 1 << z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return Tile(z, min(n - 1, int((lon + 180) / 360 * n)), min(n - 1, max(0, int(y))))


def tile_engine(url: str | URL, settings: Settings) -> Engine:
    """The tile path's own pool, set up so that one round trip serves a tile:

    * autocommit: a tile is one statement, its own snapshot (it reads its data version
      itself), with no BEGIN, COMMIT or session reset around it;
    * no parallel workers, set once per connection as it opens rather than around each tile:
      a tile reads a few thousand index-found rows, and starting workers (and gathering their
      sorted output) costs more than it saves;
    * no liveness ping before each use: a tile that meets a dead connection is made again on
      a new one (:func:`db.engine.retrying`);
    * the tile's statement timeout, also set as the session opens (autocommit has no
      transaction to ``SET LOCAL`` in)."""
    return service_engine(settings, url, pre_ping=False, isolation_level="AUTOCOMMIT",
                          server_settings={"max_parallel_workers_per_gather": "0"},
                          work=Work.TILE)


# The tile and the version already held are bound when the statement runs, so that one
# statement object serves every tile of a layer and filter (see :func:`tile_select`).
TILE_Z = bindparam("tile_z", type_=Integer)
TILE_X = bindparam("tile_x", type_=Integer)
TILE_Y = bindparam("tile_y", type_=Integer)
KNOWN_VERSION = bindparam("known_version", type_=Text)
_STATEMENTS: Lru[Select[Any]] = Lru(512)  # per layer, filter and cap; static layers only


def tile_select(conn: Connection, layer: Layer, tile: Tile, query: LayerQuery,
                cap: int) -> Select[Any]:
    """The one SQL statement that returns the version of the data and the tile's bytes (empty
    when nothing is in it), or no bytes when that version is still the known one: then
    PostgreSQL skips making the tile, and the caller answers from what it holds. Run it with
    :func:`tile_parameters`.

    A layer that is not computed gets the same statement for every tile, built once per
    filter and cap and then reused: building and hashing a statement this size costs more CPU
    than PostgreSQL spends on a small tile."""
    if layer.computed:  # its filters apply inside: narrow them to the tile
        return _tile_select(conn, layer, _near_tile(layer, tile, query), cap)
    return _STATEMENTS.through(repr((layer.id, query.key, cap)),
                               lambda: prepared(_tile_select(conn, layer, query, cap)))


def tile_parameters(tile: Tile, known: str | None) -> dict[str, Any]:
    return {"tile_z": tile.z, "tile_x": tile.x, "tile_y": tile.y, "known_version": known}


def _tile_select(conn: Connection, layer: Layer, query: LayerQuery, cap: int) -> Select[Any]:
    encoded = _encoded_layer(conn, layer, query, cap, layer.id, layer.tile_point)
    if layer.footprint_layer is not None:  # MVT layers concatenate: one tile, two layers
        footprints = _encoded_layer(conn, layer, query, cap, layer.footprint_layer, None,
                                    func.GeometryType(layer.geometry) != "POINT")
        encoded = func.coalesce(encoded, b"").concat(func.coalesce(footprints, b""))
    current = select(version_column(layer.tables).label("version")).subquery("current")
    return select(current.c.version,
                  case((current.c.version == KNOWN_VERSION, null()), else_=encoded).label("tile")) \
        .select_from(current)


def _encoded_layer(conn: Connection, layer: Layer, query: LayerQuery, cap: int, name: str,
                   geometry: Any, *where: Any) -> Any:
    """One MVT layer ``name`` of the tile: at most ``cap`` of the features (drawn with
    ``geometry``, default the layer's) that meet the tile and its buffer."""
    world = func.ST_MakeEnvelope(-WEB_MERCATOR_HALF, -WEB_MERCATOR_HALF, WEB_MERCATOR_HALF,
                                 WEB_MERCATOR_HALF, 3857)
    envelope = func.ST_TileEnvelope(TILE_Z, TILE_X, TILE_Y)
    search = func.ST_Transform(
        func.ST_TileEnvelope(TILE_Z, TILE_X, TILE_Y, world, BUFFER / EXTENT), 4326)
    drawn = layer.geometry if geometry is None else geometry
    found = (
        layer.select(conn, query, layer.tile_properties, drawn)
        .where(drawn.op("&&")(search), *where)
        .order_by(layer.key if layer.tile_order is None else layer.tile_order)
        .limit(cap)
        .subquery("found")
    )
    clipped = func.ST_AsMVTGeom(func.ST_Transform(found.c.geom, 3857), envelope, EXTENT,
                                BUFFER, True)
    mvt = select(clipped.label("geom"),
                 *(found.c[p.name] for p in layer.tile_properties)).subquery("mvt")
    return select(func.ST_AsMVT(literal_column("mvt"), name, EXTENT, "geom")) \
        .select_from(mvt).scalar_subquery()


def render_tile(conn: Connection, layer: Layer, tile: Tile, query: LayerQuery, cap: int,
                known: str | None = None) -> tuple[str, bytes | None]:
    """The data version the tile is read at, and its bytes: None when that version is still
    ``known`` (one statement, one snapshot)."""
    row = conn.execute(tile_select(conn, layer, tile, query, cap),
                       tile_parameters(tile, known)).one()
    if known is not None and row.version == known:
        return row.version, None
    return row.version, bytes(row.tile or b"")


def tile_lonlat(tile: Tile) -> BBox:
    """The tile's west, south, east, north in degrees."""
    n = 1 << tile.z

    def latitude(y: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))

    return tile.x / n * 360 - 180, latitude(tile.y + 1), (tile.x + 1) / n * 360 - 180, \
        latitude(tile.y)


def _near_tile(layer: Layer, tile: Tile, query: LayerQuery) -> LayerQuery:
    """``query`` narrowed to the tile, its buffer and the layer's margin (unless that leaves
    nothing, which the tile's own envelope test then shows)."""
    west, south, east, north = tile_lonlat(tile)
    extra = BUFFER / EXTENT
    cos_lat = max(math.cos(math.radians(max(abs(south), abs(north)))), 0.01)
    d_lon = (east - west) * extra + layer.tile_margin_m / (METRES_PER_DEGREE * cos_lat)
    d_lat = (north - south) * extra + layer.tile_margin_m / METRES_PER_DEGREE
    box = [max(-180.0, west - d_lon), max(-90.0, south - d_lat),
           min(180.0, east + d_lon), min(90.0, north + d_lat)]
    if query.bbox is not None:
        box = [max(box[0], query.bbox[0]), max(box[1], query.bbox[1]),
               min(box[2], query.bbox[2]), min(box[3], query.bbox[3])]
        if box[0] > box[2] or box[1] > box[3]:
            return query
    return replace(query, bbox=(box[0], box[1], box[2], box[3]))


def tilejson(layer: Layer, tiles_url: str, bounds: list[float] | None) -> dict[str, Any]:
    """TileJSON 3.0.0, so MapLibre can add the layer as a source by URL."""
    west, south, east, north = bounds or [-180.0, -85.0511, 180.0, 85.0511]
    center_zoom = max(layer.minzoom, min(layer.maxzoom, 11))
    return {
        "tilejson": "3.0.0",
        "name": layer.title,
        "description": layer.description,
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, center_zoom],
        "vector_layers": [{
            "id": name,
            "description": description,
            "minzoom": layer.minzoom,
            "maxzoom": layer.maxzoom,
            "fields": {p.name: TILEJSON_TYPES[p.type] for p in layer.tile_properties},
        } for name, description in _tile_layers(layer)],
    }


def _tile_layers(layer: Layer) -> list[tuple[str, str]]:
    found = [(layer.id, layer.description)]
    if layer.footprint_layer is not None:
        found.append((layer.footprint_layer, f"{layer.title}: the lines and polygons drawn "
                                             f"(the first layer has every feature's point)."))
    return found
