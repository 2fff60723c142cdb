"""Scalars: GeoJSON geometry objects as plain JSON, in lon/lat (RFC 7946), and DateTime.

``GeoJSON`` is the Python type used in annotations; ``SCALARS`` tells the schema how to send
and parse it and ``datetime`` (``StrawberryConfig.scalar_map``). DateTime is strawberry's, but
every instant a client sends is checked and put in UTC by :func:`db.instants.parse_instant`.
"""

import json
from datetime import datetime
from typing import Any, NewType, cast

import orjson
import strawberry

from db.instants import parse_instant
from errors import ErrorCode, PhananhError

GeoJSON = NewType("GeoJSON", dict)


def _parse_geojson(value: Any) -> dict[str, Any]:
    """Accept a GeoJSON object, or a string holding one (some clients send JSON as text)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise PhananhError(ErrorCode.INVALID_GEOMETRY,
                               "GeoJSON string is not valid JSON.") from None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise PhananhError(ErrorCode.INVALID_GEOMETRY,
                           "Expected a GeoJSON geometry object with a 'type'.")
    return value


def written_geojson(text: str) -> GeoJSON:
    """A geometry PostGIS wrote as GeoJSON text (``ST_AsGeoJSON``), sent as it is. orjson,
    which encodes the responses (``app.py``), copies a ``Fragment`` in verbatim: parsing the
    text here only for orjson to write the same numbers again took most of the Python time
    of a grid of 13,815 hexagons (docs/benchmarks.md)."""
    return cast(GeoJSON, orjson.Fragment(text))


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise PhananhError(ErrorCode.BAD_INPUT, "A DateTime is an RFC 3339 string.")
    return parse_instant(value, "DateTime")


SCALARS = {
    GeoJSON: strawberry.scalar(
        name="GeoJSON",
        description="A GeoJSON geometry object (RFC 7946), coordinates in longitude, latitude.",
        specified_by_url="https://www.rfc-editor.org/rfc/rfc7946",
        serialize=lambda value: value,
        parse_value=_parse_geojson,
    ),
    datetime: strawberry.scalar(
        name="DateTime",
        description="Date with time (ISO-8601)",
        serialize=datetime.isoformat,
        parse_value=_parse_datetime,
    ),
}
