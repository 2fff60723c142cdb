"""The duration buckets computed from the float's bytes, not from its hexadecimal text.

``duration_bucket`` (0025) and ``duration_fine_bucket`` (0038) take the float's sign, exponent
and first mantissa bits. They read them by writing the float's 8 bytes as 16 hexadecimal
digits and parsing those as a bit string, twice a call: 0.47 µs a call, which the histograms'
statement spends on every complaint of a window's edge days (at 10 million complaints a
week's edge is 64,000 complaints and two durations each, some 60 ms of a year's statistics),
and every write of a complaint spends in the rollups' triggers. The same bits come from the
first three bytes, ``get_byte``: 0.14 µs a call (docs/benchmarks.md, "seventh pass").

The results are the same integers for every float (``tests/test_rollups.py`` compares both
functions with the bits computed in Python, infinities, zeros and subnormals included), so the
indexes on them (0035, 0038) and the rows of the histograms stay valid as they are: the
functions are replaced, nothing is rebuilt. PostgreSQL matches a query's expression with an
index's after inlining both, and a connection inlines an index's expression once, when it
first reads the index: a connection opened before the upgrade plans without these indexes
until it closes (slowly, not wrongly). Migrate before starting the servers, as ``make run``
and ``phananh db upgrade`` do, or restart them after.

Revision ID: 0039_duration_buckets_by_bytes
Revises: 0038_fine_duration_rollup
Create Date: 2026-12-06
"""

import importlib

from alembic import op

revision = "0039_duration_buckets_by_bytes"
down_revision = "0038_fine_duration_rollup"
branch_labels = None
depends_on = None

DURATIONS = importlib.import_module("migrations.versions.0025_duration_rollup")
FINE = importlib.import_module("migrations.versions.0038_fine_duration_rollup")

BUCKETS = {"duration_bucket": 47, "duration_fine_bucket": FINE.FINE_BITS}


def byte(n: int) -> str:
    return f"get_byte(float8send(hours), {n})"


def bucket_function(name: str, shift: int) -> str:
    """``name``(hours): the float's 64 bits shifted right by ``shift`` (keeping its sign), a
    negative one's magnitude bits flipped first, so that the buckets sort as the values do:
    0025's arithmetic, on the top 64 − ``shift`` bits (at most 24, three bytes) alone."""
    width = 64 - shift
    assert 16 <= width <= 24
    top = (f"(({byte(0)} << {width - 8}) | ({byte(1)} << {width - 16})"
           f" | ({byte(2)} >> {24 - width}))")
    return f"""
    CREATE OR REPLACE FUNCTION {name}(hours float8) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN {byte(0)} < 128 THEN {top}
                    ELSE ({top} # {(1 << (width - 1)) - 1}) - {1 << width} END
    $$"""


def upgrade() -> None:
    for name, shift in BUCKETS.items():
        op.execute(bucket_function(name, shift))


def downgrade() -> None:
    for function in (DURATIONS.BUCKET_FUNCTION, FINE.BUCKET_FUNCTION):
        op.execute(function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
