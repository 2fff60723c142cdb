"""The layers phananh publishes: SQL source, geometry, and an explicit public allow-list.

A layer never selects ``*``: each published property is named here, and complaint properties
are taken from ``PUBLIC_COMPLAINT_COLUMNS`` by name, so a reporter column cannot appear in a
tile, an OGC response or an export even by accident (the lookup fails at import). Addresses of
categories marked sensitive are withheld, as in the GraphQL API, and the complaint's internal
numeric id stays private: the public id is the feature id. Descriptions and addresses are
their copies with personal data redacted (phones, e-mails, ID numbers, plates).
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Text, case, func, null, select

from db.complaints import where_clauses
from db.photos import public_photo_paths
from db.sql import as_core, sql
from db.tables import (
    PUBLIC_COMPLAINT_COLUMNS,
    admin_area,
    boundary_generation,
    category,
    complaint,
)
from errors import ErrorCode
from geo.jurisdiction import GENERATIONS_IN_FORCE
from layers.hotspot_grid import hotspot_grid_layer
from layers.model import Layer, Property
from layers.query import LayerQuery, choose, complaint_filter
from workflow.states import Status


def _public(name: str) -> Any:
    """A complaint column from the public allow-list (KeyError for anything else); free text
    is its redacted copy."""
    return PUBLIC_COMPLAINT_COLUMNS[name]


def _in_force(area: Any, level: str) -> ColumnElement[bool]:
    """Areas of the boundary generation in force today for ``level``."""
    generations = (
        as_core(sql(GENERATIONS_IN_FORCE, at=datetime.now(UTC).date()))
        .columns(level=Text, generation_id=Integer)
        .subquery("in_force")
    )
    return area.c.generation_id.in_(
        select(generations.c.generation_id).where(generations.c.level == level))


def _area_where(area: Any, level: str, filterable: dict[str, ColumnElement[Any]]
                ) -> Callable[[LayerQuery], list[ColumnElement[bool]]]:
    def where(query: LayerQuery) -> list[ColumnElement[bool]]:
        clauses = [area.c.level == level]
        if not query.values("generation"):  # a named generation replaces "in force today"
            clauses.append(_in_force(area, level))
        if query.bbox is not None:
            clauses.append(area.c.geom.op("&&")(func.ST_MakeEnvelope(*query.bbox, 4326)))
        clauses.extend(filterable[name].in_(values) for name, values in query.equals)
        return clauses

    return where


def _complaints() -> Layer:
    ward = admin_area.alias("ward")
    district = admin_area.alias("district")
    # Outer joins on primary keys: PostgreSQL drops the ones a query does not use (tiles).
    source = (
        complaint.outerjoin(ward, ward.c.id == _public("ward_id"))
        .outerjoin(district, district.c.id == _public("district_id"))
        .outerjoin(category, category.c.code == _public("category_code"))
    )

    def timestamp(name: str, description: str) -> Property:
        return Property(name, _public(name), format="date-time", description=description)

    properties = (
        Property("public_id", _public("public_id"), description="Public reference (PA-…).",
                 in_tiles=True),
        Property("category_code", _public("category_code"), in_tiles=True),
        Property("status", _public("status"), in_tiles=True, values=tuple(Status)),
        Property("description", _public("description")),
        Property("address", case((category.c.sensitive, null()), else_=_public("address")),
                 description="Withheld (null) for categories marked sensitive."),
        Property("channel", _public("channel")),
        Property("media_urls", func.nullif(func.array_to_string(_public("media_urls"), " "), ""),
                 description="Space-separated URLs (null when there are none)."),
        Property("photos", public_photo_paths(),
                 description="Space-separated paths of the public photos, under the API's "
                             "address (null when there are none); private photos and those "
                             "of sensitive categories are never linked."),
        timestamp("created_at", "When the report was received."),
        timestamp("updated_at", "Last change."),
        timestamp("first_action_at", "First action by an official."),
        timestamp("due_at", "Deadline from the category's service level."),
        timestamp("resolved_at", "When it was resolved."),
        Property("rating", _public("rating")),
        timestamp("rated_at", "When the reporter rated the outcome."),
        Property("ward_code", ward.c.code),
        Property("ward_name", ward.c.name),
        Property("district_code", district.c.code),
        Property("district_name", district.c.name),
        Property("agency_code", _public("agency_code"),
                 description="The agency the complaint is routed to."),
        Property("lon", func.ST_X(_public("location")), type="number",
                 description="The representative point (on the footprint): longitude."),
        Property("lat", func.ST_Y(_public("location")), type="number",
                 description="The representative point (on the footprint): latitude."),
    )
    return Layer(
        id="complaints",
        title="Citizen complaints",
        description="Reports by citizens, with the footprint they drew (a point, a line or a "
                    "polygon) and its representative point (lon, lat). No reporter details.",
        geometry_type="Geometry",
        source=source,
        geometry=_public("footprint"),
        tile_point=_public("location"),
        key=_public("public_id"),
        tile_order=_public("id"),
        properties=properties,
        where=lambda query: where_clauses(complaint_filter(query)),
        tables=("complaint", "admin_area", "boundary_generation", "category"),
        queryables=tuple(p for p in properties
                         if p.name in ("category_code", "status", "ward_code", "district_code",
                                       "agency_code")),
        time_filter=True,
        searchable=True,
        temporal="created_at",
    )


def _areas(level: str, layer_id: str, title: str) -> Layer:
    area = admin_area.alias(level)
    parent = admin_area.alias("parent")
    source = (
        area.join(boundary_generation, boundary_generation.c.id == area.c.generation_id)
        .outerjoin(parent, parent.c.id == area.c.parent_id)
    )
    properties = [
        Property("code", area.c.code, in_tiles=True),
        Property("name", area.c.name, in_tiles=True),
        Property("name_en", area.c.name_en),
        Property("area_km2", area.c.area_km2, type="number"),
        Property("population", area.c.population, type="integer"),
        Property("generation", boundary_generation.c.name,
                 description="The boundary generation: the one in force today unless a "
                             "`generation` filter names others."),
    ]
    if level == "ward":
        properties[2:2] = [Property("district_code", parent.c.code, in_tiles=True),
                           Property("district_name", parent.c.name)]
    queryables = tuple(p for p in properties
                       if p.name in ("code", "district_code", "generation"))
    return Layer(
        id=layer_id,
        title=title,
        description=f"{title} of the boundary generation in force today (or of those "
                    f"named by `generation`).",
        geometry_type="MultiPolygon",
        source=source,
        geometry=area.c.geom,
        key=area.c.code,
        properties=tuple(properties),
        where=_area_where(area, level, {p.name: p.expression for p in queryables}),
        tables=("admin_area", "boundary_generation"),
        queryables=queryables,
    )


_COMPLAINTS = _complaints()
LAYERS: dict[str, Layer] = {
    layer.id: layer
    for layer in (_COMPLAINTS, _areas("ward", "wards", "Wards"),
                  _areas("district", "districts", "Districts"),
                  hotspot_grid_layer(_COMPLAINTS.queryables))
}


def get_layer(layer_id: str) -> Layer:
    return choose(LAYERS, layer_id, ErrorCode.NOT_FOUND, "layer")
