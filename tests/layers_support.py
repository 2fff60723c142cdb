"""Independent helpers for the layer tests: Web-Mercator tile math, rows as numpy arrays, and
the boundary generation in force — written from the definitions, not taken from ``layers/``."""

import math
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

from tests.conftest import Demo

R = 6378137.0  # the Web-Mercator sphere


def mercator(lon: Any, lat: Any) -> tuple[Any, Any]:
    return R * np.radians(lon), R * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """West, south, east, north of a tile, in Web-Mercator metres."""
    size = 2 * math.pi * R / 2**z
    west, north = -math.pi * R + x * size, math.pi * R - y * size
    return west, north - size, west + size, north


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    mx, my = mercator(lon, lat)
    size = 2 * math.pi * R / 2**z
    return z, int((mx + math.pi * R) // size), int((math.pi * R - my) // size)


def complaint_arrays(engine: Engine, **columns: str) -> dict[str, np.ndarray]:
    """``name=SQL expression`` over ``complaint``, every row, as one array per name."""
    select = ", ".join(f"{sql} AS {name}" for name, sql in columns.items())
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {select} FROM complaint ORDER BY public_id")).all()
    return {name: np.array(values) for name, values in zip(columns, zip(*rows, strict=True),
                                                           strict=True)}


def generation_in_force(demo: Demo) -> Any:
    today = demo.now.date()
    (in_force,) = [g for g in demo.generations
                   if (g.valid_from is None or g.valid_from <= today)
                   and (g.valid_to is None or today < g.valid_to)]
    return in_force
