"""The GeoJSON scalar: geometry objects as plain JSON, in lon/lat (RFC 7946).

``GeoJSON`` is the Python type used in annotations; ``SCALARS`` tells the schema how to send
and parse it (``StrawberryConfig.scalar_map``).
"""

import json
from typing import Any, NewType

import strawberry

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


SCALARS = {
    GeoJSON: strawberry.scalar(
        name="GeoJSON",
        description="A GeoJSON geometry object (RFC 7946), coordinates in longitude, latitude.",
        specified_by_url="https://www.rfc-editor.org/rfc/rfc7946",
        serialize=lambda value: value,
        parse_value=_parse_geojson,
    )
}
