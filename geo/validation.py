"""Validate coordinates and GeoJSON from clients before any of it reaches SQL.

Shapely answers "is this polygon valid, and why not" in-process and cheaply; PostGIS would
answer too, but only after a round trip and with messages we could not control.
"""

import math
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from errors import ErrorCode, PhananhError, quoted


def on_earth(lon: float, lat: float) -> bool:
    """Whether (lon, lat) is a place: within range (NaN fails every comparison)."""
    return -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0


def check_point(lon: float, lat: float) -> None:
    """Refuse coordinates that are not a place on Earth (NaN, infinities, out of range)."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise PhananhError(ErrorCode.BAD_COORDINATES, "Coordinates must be finite numbers.",
                           lon=_jsonable(lon), lat=_jsonable(lat))
    if not on_earth(lon, lat):
        raise PhananhError(
            ErrorCode.BAD_COORDINATES,
            f"Coordinates out of range: lon must be within [-180, 180] and lat within [-90, 90], "
            f"got lon={lon}, lat={lat}.",
            lon=lon, lat=lat,
        )


# Simplifying a boundary by more than this leaves nothing a map could use.
MAX_SIMPLIFY_M = 10_000.0
SIMPLIFY_HELP = f"`simplify` is a tolerance in metres (0–{MAX_SIMPLIFY_M:,.0f})."


def check_simplify(simplify_m: float | None) -> None:
    """Refuse a simplification tolerance that is not 0–10,000 metres (or none): GEOS refuses
    negative ones with an error of its own, and NaN or infinity mean nothing."""
    if simplify_m is not None and not (math.isfinite(simplify_m)
                                       and 0 <= simplify_m <= MAX_SIMPLIFY_M):
        raise PhananhError(ErrorCode.BAD_INPUT, f"simplify must be within 0 and "
                                                f"{MAX_SIMPLIFY_M:.0f} metres.",
                           simplify=_jsonable(simplify_m))


POLYGONAL = ("Polygon", "MultiPolygon")
# What a complaint may be drawn as: a place, a stretch of street, a site (issue 14).
FOOTPRINT_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", *POLYGONAL)


def parse_polygon(geojson: Any, max_vertices: int) -> Polygon | MultiPolygon:
    """A valid Polygon or MultiPolygon in lon/lat from a GeoJSON geometry, or a clear error."""
    geometry = parse_geometry(geojson, POLYGONAL, max_vertices, "polygon")
    assert isinstance(geometry, Polygon | MultiPolygon)
    return geometry


def parse_footprint(geojson: Any, max_vertices: int) -> BaseGeometry:
    """A complaint's footprint, checked exactly as a `within` polygon is (types aside): a
    valid, non-empty (Multi)Point, (Multi)LineString or (Multi)Polygon of finite lon/lat with
    at most ``max_vertices`` vertices. Its size is the category's to judge (at submission)."""
    return parse_geometry(geojson, FOOTPRINT_TYPES, max_vertices, "footprint")


def parse_geometry(geojson: Any, types: tuple[str, ...], max_vertices: int,
                   noun: str) -> BaseGeometry:
    """A valid geometry of one of ``types`` from GeoJSON, or INVALID_GEOMETRY,
    GEOMETRY_TOO_COMPLEX or BAD_COORDINATES naming the problem (``noun`` names the input)."""
    if not isinstance(geojson, dict) or "type" not in geojson:
        raise PhananhError(ErrorCode.INVALID_GEOMETRY,
                           "Expected a GeoJSON geometry object with a 'type'.")
    if geojson["type"] not in types:
        raise PhananhError(ErrorCode.INVALID_GEOMETRY,
                           f"Expected a {' or '.join(types)}, got {quoted(geojson['type'])}.")
    try:
        # NaN vertices are refused just below (check_geometry_coordinates) with a clear
        # message; numpy need not warn about them on the way.
        with np.errstate(invalid="ignore"):
            geometry = shape(geojson)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise PhananhError(ErrorCode.INVALID_GEOMETRY,
                           f"Malformed GeoJSON coordinates: {exc}") from None
    vertices = shapely.get_num_coordinates(geometry)
    if vertices > max_vertices:
        raise PhananhError(
            ErrorCode.GEOMETRY_TOO_COMPLEX,
            f"The {noun} has {vertices} vertices; at most {max_vertices} are accepted. "
            f"Simplify it first.",
            vertices=int(vertices), maxVertices=max_vertices,
        )
    check_geometry_coordinates(geometry)
    if geometry.is_empty:
        raise PhananhError(ErrorCode.INVALID_GEOMETRY, f"The {noun} is empty.")
    if not geometry.is_valid:
        raise PhananhError(
            ErrorCode.INVALID_GEOMETRY,
            f"The {noun} is not valid: {shapely.is_valid_reason(geometry)}.",
            reason=shapely.is_valid_reason(geometry),
        )
    return geometry


def check_geometry_coordinates(geometry: BaseGeometry) -> None:
    """Every vertex must be a finite lon/lat pair."""
    coords = shapely.get_coordinates(geometry)
    if coords.size == 0:
        return
    # NaN fails every comparison and infinities fall outside the range, so one test covers all.
    lons, lats = coords[:, 0], coords[:, 1]
    in_range = (lons >= -180) & (lons <= 180) & (lats >= -90) & (lats <= 90)
    if not bool(in_range.all()):
        raise PhananhError(ErrorCode.BAD_COORDINATES,
                           "Vertices must be finite lon/lat within [-180, 180] × "
                           "[-90, 90].")


def check_bbox(west: float, south: float, east: float, north: float) -> None:
    for lon, lat in ((west, south), (east, north)):
        check_point(lon, lat)
    if west > east or south > north:
        raise PhananhError(ErrorCode.BAD_COORDINATES,
                           "A bbox is west, south, east, north with west ≤ east and "
                           "south ≤ north.")


def _jsonable(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)
