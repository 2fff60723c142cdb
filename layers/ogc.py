"""OGC API – Features, Part 1 (core, GeoJSON, OpenAPI 3.0) and Part 3 queryables: documents.

These are the JSON resources QGIS and GDAL's OAPIF driver walk: landing page → conformance →
collections → items (GeoJSON pages with ``numberMatched``, ``numberReturned`` and ``next``
links). Everything here is a pure function of the layer registry and the URLs; ``routes.py``
adds the data.
"""

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from layers.model import Layer
from layers.query import TEXT_PARAMETER
from schema.text import MAX_SEARCH_CHARS
from settings import Settings

JSON = "application/json"
GEOJSON = "application/geo+json"
SCHEMA_JSON = "application/schema+json"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
)
# Every error body (errors.error_response): OGC API – Features Part 1's exception.yaml.
EXCEPTION_CONTENT = {JSON: {"schema": {
    "type": "object", "required": ["code"],
    "properties": {"code": {"type": "string"}, "description": {"type": "string"}}}}}
_SCHEMA_TYPES = {"string": "string", "integer": "integer", "number": "number"}


def link(href: str, rel: str, media_type: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": media_type, "title": title}


def landing(base: str) -> dict[str, Any]:
    return {
        "title": "phananh: citizen reports on a city",
        "description": "Complaints, wards and districts as OGC API – Features collections.",
        "links": [
            link(base, "self", JSON, "This document"),
            link(f"{base}/api", "service-desc", OPENAPI_JSON, "The API definition"),
            link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
            link(f"{base}/collections", "data", JSON, "The collections"),
        ],
    }


def conformance() -> dict[str, Any]:
    return {"conformsTo": list(CONFORMANCE)}


def collection(layer: Layer, base: str, extent: dict[str, Any]) -> dict[str, Any]:
    url = f"{base}/collections/{layer.id}"
    spatial: dict[str, Any] = {"crs": CRS84}
    if extent["bbox"]:
        spatial["bbox"] = [extent["bbox"]]
    described: dict[str, Any] = {"spatial": spatial}
    if extent["interval"]:
        described["temporal"] = {
            "interval": [extent["interval"]],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    return {
        "id": layer.id,
        "title": layer.title,
        "description": layer.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": described,
        "links": [
            link(url, "self", JSON, "This collection"),
            link(f"{url}/items", "items", GEOJSON, "The features"),
            link(f"{url}/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                 SCHEMA_JSON, "Properties usable as filters"),
        ],
    }


def collections(layers: Iterable[Layer], base: str,
                extents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "links": [link(f"{base}/collections", "self", JSON, "The collections")],
        "collections": [collection(layer, base, extents[layer.id]) for layer in layers],
    }


def queryables(layer: Layer, base: str) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "geometry": {"$ref": f"https://geojson.org/schema/{layer.geometry_type}.json"}}
    for prop in layer.queryables:
        schema: dict[str, Any] = {"title": prop.name, "type": _SCHEMA_TYPES[prop.type]}
        if prop.description:
            schema["description"] = prop.description
        if prop.values is not None:
            schema["enum"] = list(prop.values)
        properties[prop.name] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/collections/{layer.id}/queryables",
        "type": "object",
        "title": layer.title,
        "properties": properties,
        "additionalProperties": False,
    }


def items_page(layer: Layer, base: str, params: Sequence[tuple[str, str]],
               features: Sequence[str], matched: int, next_after: str | None) -> bytes:
    """A GeoJSON FeatureCollection page; ``features`` are GeoJSON texts made by PostgreSQL."""
    url = f"{base}/collections/{layer.id}/items"
    kept = [(k, v) for k, v in params if k != "after"]
    links = [link(_with_query(url, params), "self", GEOJSON, "This page"),
             link(f"{base}/collections/{layer.id}", "collection", JSON, "The collection")]
    if next_after is not None:
        links.append(link(_with_query(url, [*kept, ("after", next_after)]), "next", GEOJSON,
                          "The next page"))
    head = {
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": len(features),
        "timeStamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "links": links,
    }
    return (json.dumps(head)[:-1] + ',"features":[' + ",".join(features) + "]}").encode()


def openapi(base: str, layers: Iterable[Layer], settings: Settings) -> dict[str, Any]:
    """A compact OpenAPI 3.0 definition: paths, parameters and the `limit` bounds clients read."""
    ids = [layer.id for layer in layers]
    collection_id = {"name": "collectionId", "in": "path", "required": True,
                     "schema": {"type": "string", "enum": ids}}
    limit = {"name": "limit", "in": "query", "required": False, "style": "form",
             "explode": False, "schema": {"type": "integer", "minimum": 1,
                                          "maximum": settings.ogc_max_limit,
                                          "default": settings.ogc_default_limit}}
    query = [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
             for name in ("bbox", "datetime", "after")]
    query.append({"name": TEXT_PARAMETER, "in": "query", "required": False,
                  "schema": {"type": "string", "maxLength": MAX_SEARCH_CHARS},
                  "description": "Free text (collections of complaints): words of the public "
                                 "description, accents and case ignored; quoted phrases, "
                                 "`or` and `-word` as in a web search."})

    def get(summary: str, media_type: str, parameters: list[dict[str, Any]] | None = None
            ) -> dict[str, Any]:
        responses = {"200": {"description": summary, "content": {media_type: {}}},
                     "400": {"description": "Bad request.", "content": EXCEPTION_CONTENT},
                     "404": {"description": "Not found.", "content": EXCEPTION_CONTENT}}
        return {"get": {"summary": summary, "parameters": parameters or [],
                        "responses": responses}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "phananh OGC API – Features", "version": "1.0.0"},
        "servers": [{"url": base}],
        "paths": {
            "/": get("Landing page", JSON),
            "/conformance": get("Conformance classes", JSON),
            "/collections": get("Collections", JSON),
            "/collections/{collectionId}": get("A collection", JSON, [collection_id]),
            "/collections/{collectionId}/queryables": get("Queryables", SCHEMA_JSON,
                                                          [collection_id]),
            "/collections/{collectionId}/items": get("Features", GEOJSON,
                                                     [collection_id, limit, *query]),
            "/collections/{collectionId}/items/{featureId}": get(
                "A feature", GEOJSON, [collection_id, {"name": "featureId", "in": "path",
                                                       "required": True,
                                                       "schema": {"type": "string"}}]),
        },
    }


def _with_query(url: str, params: Sequence[tuple[str, str]]) -> str:
    return f"{url}?{urlencode(params)}" if params else url
