"""A grid cell's indices (i, j) packed into one bigint, as the SQL function ``grid_cell``
(migration 0017) writes them for the grid rollups and the analyses, and how to count by them.

PostgreSQL hashes a bigint by the XOR of its two 32-bit halves (``hashint8``), and a packed
key's halves are its cell's small i and j: the 13,815 cells of the national 500 m grid fall in
237 hash values. A hash aggregate or hash join over packed keys then walks chains of some sixty
cells (the grid's count from its rollup took 2.1 s instead of 0.2 s). So counts group by the
unpacked (i, j), whose two hashes PostgreSQL combines, and an analysis that joins cells names
each by :func:`unit_id`, which hashes well.
"""

_BASE = 4_294_967_296  # 2^32: (i, j) packed into one bigint, j offset to be non-negative
_OFFSET = 2_147_483_648
# unit_id's factor: one to one while |j| < 2^21, a northing of 20,000 km in 10 m cells (the
# smallest, analytics.grid.MIN_CELL_M; a UTM northing is at most 10,000 km).
_UNIT_J_SPAN = 4_194_304


def pack(i: str, j: str) -> str:
    """SQL packing integer cell indices into the bigint cell key."""
    return f"(CAST({i} AS bigint) * {_BASE} + CAST({j} AS bigint) + {_OFFSET})"


def unpacked(key: str) -> str:
    """SQL select items ``i, j`` (integers) of the packed cell key ``key``."""
    return (f"CAST({key} >> 32 AS integer) AS i, "
            f"CAST(({key} & {_BASE - 1}) - {_OFFSET} AS integer) AS j")


def unit_id(i: str, j: str) -> str:
    """SQL: a bigint naming cell (i, j), one to one, that PostgreSQL hashes well (for the
    joins of the hot spot analyses; never stored)."""
    return f"(CAST({i} AS bigint) * {_UNIT_J_SPAN} + CAST({j} AS bigint))"
