"""What a layer is: its SQL source, geometry, feature id and public properties.

A layer never selects ``*``: every published attribute is a :class:`Property` named in the
registry, so the allow-list is the code itself.
"""

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, FromClause, Select, select

from layers.query import LayerQuery, Params, parse_query


@dataclass(frozen=True)
class Property:
    """One published attribute: its SQL, its JSON-schema type, and where it is shown."""

    name: str
    expression: ColumnElement[Any]
    type: str = "string"  # JSON schema: string, integer, number
    format: str | None = None  # "date-time" for timestamps
    description: str = ""
    in_tiles: bool = False  # vector tiles carry only what a map needs to draw and filter
    values: Sequence[str] | None = None  # an enumeration, when the property has one


@dataclass(frozen=True)
class Layer:
    id: str
    title: str
    description: str
    geometry_type: str  # GeoJSON type of every feature: Point, MultiPolygon, … or Geometry
    # The tables and joins the properties come from; for a computed layer, a function building
    # them for a query (its filters apply inside, e.g. before counting).
    source: FromClause | Callable[[Connection, LayerQuery], FromClause]
    geometry: ColumnElement[Any]  # EPSG:4326; GiST-indexed unless the layer is computed
    key: ColumnElement[str]  # the public feature id: unique, the paging order
    properties: tuple[Property, ...]
    where: Callable[[LayerQuery], list[ColumnElement[bool]]]
    tables: tuple[str, ...]  # the tables whose data version the layer follows (ETags)
    queryables: tuple[Property, ...] = ()  # usable as equality filters (query parameters)
    time_filter: bool = False  # whether `datetime` applies
    searchable: bool = False  # whether `q` (free text of complaints) applies
    temporal: str | None = None  # the date-time property whose span the extent reports
    tile_margin_m: float = 0.0  # computed layers: how far beyond a tile their filter must look
    minzoom: int = 0
    maxzoom: int = 22
    # A unique order that is cheaper to sort than the key (an integer), for picking a tile's
    # features when the cap bites: the same tile always holds the same features.
    tile_order: ColumnElement[Any] | None = None
    # For layers whose features are any geometry (complaints' footprints): a point on each
    # feature. Tiles then draw the layer at that point and carry the features that are not
    # points in a second tile layer, ``<id>-footprints``.
    tile_point: ColumnElement[Any] | None = None
    tile_properties: tuple[Property, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tile_properties",
                           tuple(p for p in self.properties if p.in_tiles))

    @property
    def polygonal(self) -> bool:
        """Whether features may be polygons (exterior rings are then written CCW)."""
        return "Polygon" in self.geometry_type or self.geometry_type == "Geometry"

    @property
    def footprint_layer(self) -> str | None:
        """The tile layer of the non-point features, for layers with a ``tile_point``."""
        return None if self.tile_point is None else f"{self.id}-footprints"

    @property
    def computed(self) -> bool:
        return callable(self.source)

    def property(self, name: str) -> Property:
        return next(p for p in self.properties if p.name == name)

    def parse(self, params: Params, extra: Collection[str] = ()) -> LayerQuery:
        """The layer's filters from request parameters (400 on anything it does not know)."""
        queryables = {p.name: p.values for p in self.queryables}
        return parse_query(params, queryables, self.time_filter, extra, self.searchable)

    def select(self, conn: Connection, query: LayerQuery,
               properties: Sequence[Property] | None = None,
               geometry: ColumnElement[Any] | None = None) -> Select[Any]:
        """``fid``, ``geom`` (the layer's geometry unless another is given) and the
        properties (all by default) of the matching features.

        ``conn`` is for computed layers, whose SQL may depend on the data (a grid's CRS)."""
        chosen = self.properties if properties is None else properties
        source = self.source(conn, query) if callable(self.source) else self.source
        return (
            select(self.key.label("fid"), (self.geometry if geometry is None else geometry)
                   .label("geom"),
                   *(p.expression.label(p.name) for p in chosen))
            .select_from(source)
            .where(*self.where(query))
        )
