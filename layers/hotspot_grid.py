"""``hotspot-grid``: filtered complaints counted in 500 m hexagons, a computed layer.

The counting is the hotspot analysis's own SQL (``analytics.grid.cell_counts``): the same cells,
laid out in the UTM zone of the territory in force, the same rule for points on an edge. The
layer's filters go inside the count; a tile narrows the count to its own box plus a margin of
two cells, so the cells that reach into the tile are whole. The count enters the tile's Core
statement through ``db.sql.as_core``, which keeps its parameters apart from the statement's own.
"""

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, Connection, FromClause, Integer, func, literal_column

from analytics.grid import Grid, Shape, cell_counts
from analytics.query import analysis_srid, generation_id
from db.complaints import ComplaintFilter
from db.sql import as_core
from layers.model import Layer, Property
from layers.query import LayerQuery, complaint_filter

CELL_M = 500.0  # hexagon edge (= circumradius): about 0.65 km² per cell
FALLBACK_SRID = 3857  # metres too, for a database with neither boundaries nor complaints


def hotspot_grid_layer(queryables: tuple[Property, ...]) -> Layer:
    """The layer, filtered by the complaint ``queryables`` (and bbox and datetime)."""
    i, j = literal_column("cells.i"), literal_column("cells.j")
    return Layer(
        id="hotspot-grid",
        title="Complaint hotspot grid",
        description=f"Complaints per hexagon ({CELL_M:.0f} m edge) for the filters given; "
                    f"empty cells are omitted.",
        geometry_type="Polygon",
        source=_cells,
        geometry=func.ST_Transform(literal_column("cells.cell"), 4326),
        key=func.concat(i, "_", j),
        properties=(
            Property("count", literal_column("cells.n"), type="integer", in_tiles=True,
                     description="Complaints in the cell."),
            Property("i", i, type="integer", in_tiles=True, description="Cell column."),
            Property("j", j, type="integer", in_tiles=True, description="Cell row."),
        ),
        where=lambda query: [],
        tables=("complaint", "admin_area", "boundary_generation"),
        queryables=queryables,
        time_filter=True,
        searchable=True,
        tile_margin_m=4 * CELL_M,
    )


def _cells(conn: Connection, query: LayerQuery) -> FromClause:
    """The non-empty cells and their counts, as a subquery named ``cells``."""
    territory = generation_id(conn, None, "ward")
    srid = analysis_srid(conn, ComplaintFilter(), territory) or FALLBACK_SRID
    counts = cell_counts(complaint_filter(query), Grid(Shape.HEXAGON, CELL_M, srid))
    return (
        as_core(counts)
        .columns(i=Integer, j=Integer, n=BigInteger, cell=Geometry(srid=srid))
        .subquery("cells")
    )
