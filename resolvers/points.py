"""Point checks that consult the map: a swapped lon/lat that lands in a ward is named as such."""

from sqlalchemy import Engine

from db.engine import read
from errors import ErrorCode, PhananhError
from geo.jurisdiction import ward_at
from geo.validation import check_point


async def check_points(engine: Engine, points: list[tuple[float, float]]) -> None:
    """Refuse the first invalid point; say so when swapping its pair would land in a ward.

    Swapped coordinates are the commonest client mistake (GeoJSON is lon, lat; most people say
    lat, lon), so the error tells the client exactly that instead of a bare range message.
    """
    for index, (lon, lat) in enumerate(points):
        try:
            check_point(lon, lat)
        except PhananhError as error:
            if await read(engine, ward_at, lon=lat, lat=lon) is None:  # the pair swapped
                raise
            raise PhananhError(
                ErrorCode.BAD_COORDINATES,
                f"{error.message} Swapped, ({lat}, {lon}) lies in a ward served here: the "
                f"coordinates look swapped; give lon first, then lat.",
                lon=lon, lat=lat, swapped=True, index=index,
            ) from None
