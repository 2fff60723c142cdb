"""The durations packed per area and month, grouped in sixteen bands of values, each row with
the start of each band, so that a breakdown reads the bands that hold its ranks, not every
duration.

A district's or ward's median and 90th percentile (``analytics/area_durations.py``) read the
durations packed per city month, measure, status and routed pair (0032): every one of the
window's, eight bytes each. At 10 million complaints that is 3.1 million values a duration
for a year and 10 million for three years, the largest part of a statistics request
(docs/benchmarks.md, "seventh pass"); and a rank needs only the values near it.

Each measure's durations are now cut into :data:`BANDS` bands by fifteen edges
(``complaint_duration_bands``; a value's band is ``width_bucket(hours, edges)``, the number of
edges at or below it). A row's values are grouped by band, in band order (in no order within
a band), and ``bands`` holds, as 15 big-endian int4 (``int4send``), where bands 1 to 15
start: the number of the row's values in lower bands. A breakdown first reads the starts
alone, sums each area's values per band, finds the band holding each rank, then reads those
bands' values alone (``substring``, ``band_start``). The edges are the quantiles of the
durations at every sixteenth when they were last fitted (``fit_duration_bands()``: at this
migration, and by every ``rebuild_rollups()``, so after a bulk load or
``phananh rollups rebuild``), so that each band holds about a sixteenth of them; with other
edges the answers are the same, only the bands less even. The defaults, until a database
has durations, are about a doubling of hours each.

Kept by 0032's row constraint triggers, run at commit, with this row function: a value goes
in at the end of its band and moves the starts above it; one leaves from within its band.
``fit_duration_bands()`` locks the complaints as ``rebuild_rollups()`` does, so that no
writer places a value by edges about to change, and bumps the complaints' data version, by
which a breakdown's two reads know that the rows changed between them.

Revision ID: 0040_banded_duration_values
Revises: 0039_duration_buckets_by_bytes
Create Date: 2026-12-06
"""

import importlib

from alembic import op

revision = "0040_banded_duration_values"
down_revision = "0039_duration_buckets_by_bytes"
branch_labels = None
depends_on = None

VALUES = importlib.import_module("migrations.versions.0032_area_duration_values")
FINE = importlib.import_module("migrations.versions.0038_fine_duration_rollup")

BANDS = 16
# Until the durations are fitted (an empty database): about a doubling of hours a band.
DEFAULT_EDGES = (0.5, 1, 2, 4, 8, 12, 24, 36, 48, 72, 120, 168, 336, 720, 2160)
assert len(DEFAULT_EDGES) == BANDS - 1
EDGES_OF = "(SELECT edges FROM complaint_duration_bands WHERE measure = {measure})"
KEY = ", ".join(VALUES.KEY)
MATCHES = " AND ".join(f"r.{k} IS NOT DISTINCT FROM d.{k}" for k in VALUES.KEY)

FUNCTIONS = [
    # Where band ``band`` (0 to 16: 16 is the end) of a row starts, in values.
    f"""
    CREATE FUNCTION band_start(bands bytea, hours bytea, band integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN band <= 0 THEN 0
                    WHEN band >= {BANDS} THEN length(hours) / 8
                    ELSE (get_byte(bands, band * 4 - 4) << 24)
                         | (get_byte(bands, band * 4 - 3) << 16)
                         | (get_byte(bands, band * 4 - 2) << 8) | get_byte(bands, band * 4 - 1)
               END
    $$""",
    # A row's starts with one value more (step 1) or less (-1) in band ``band``: the bands
    # above it start one later or earlier. NULL starts: a row with no values.
    f"""
    CREATE FUNCTION bands_moved(bands bytea, band integer, step integer) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT string_agg(int4send(coalesce(band_start(bands, NULL, b), 0)
                                   + CASE WHEN b > band THEN step ELSE 0 END), ''::bytea
                          ORDER BY b)
        FROM generate_series(1, {BANDS - 1}) AS b
    $$""",
    # The packed values without the first equal to ``value`` among slots first to last - 1
    # (NULL when none is).
    """
    CREATE FUNCTION float8s_without_between(packed bytea, value float8, first integer,
                                            last integer) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT overlay(packed PLACING ''::bytea FROM slot * 8 + 1 FOR 8)
        FROM generate_series(first, last - 1) AS slot
        WHERE substring(packed FROM slot * 8 + 1 FOR 8) = float8send(value)
        ORDER BY slot LIMIT 1
    $$""",
]

TRIGGER_FUNCTION = f"""
    CREATE OR REPLACE FUNCTION complaint_area_duration_values_row() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        d record;
        placed integer;  -- the band of d's value
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            FOR d IN {VALUES.ROWS.format(c="OLD")} LOOP
                placed := width_bucket(d.hours, {EDGES_OF.format(measure="d.measure")});
                UPDATE complaint_area_duration_values r
                SET hours = float8s_without_between(
                        r.hours, d.hours, band_start(r.bands, r.hours, placed),
                        band_start(r.bands, r.hours, placed + 1)),
                    bands = bands_moved(r.bands, placed, -1)
                WHERE {MATCHES};
                DELETE FROM complaint_area_duration_values r
                WHERE {MATCHES} AND length(r.hours) = 0;
            END LOOP;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            FOR d IN {VALUES.ROWS.format(c="NEW")} LOOP
                placed := width_bucket(d.hours, {EDGES_OF.format(measure="d.measure")});
                INSERT INTO complaint_area_duration_values AS r ({KEY}, hours, bands)
                VALUES (d.measure, d.month, d.status, d.district_id, d.ward_id,
                        float8send(d.hours), bands_moved(NULL, placed, 1))
                ON CONFLICT ({KEY}) DO UPDATE
                SET hours = overlay(r.hours PLACING EXCLUDED.hours
                                    FROM band_start(r.bands, r.hours, placed + 1) * 8 + 1
                                    FOR 0),
                    bands = bands_moved(r.bands, placed, 1);
            END LOOP;
        END IF;
        RETURN NULL;
    END $$"""

BANDED = ("SELECT v.*, width_bucket(v.hours, b.edges) AS band FROM complaint c "
          f"CROSS JOIN LATERAL ({VALUES.ROWS.format(c='c')}) AS v "
          "JOIN complaint_duration_bands b ON b.measure = v.measure")
BACKFILL = f"""
    INSERT INTO complaint_area_duration_values ({KEY}, hours, bands)
    SELECT {", ".join(f"v.{k}" for k in VALUES.KEY)},
           string_agg(float8send(v.hours), ''::bytea ORDER BY v.band),
           {" || ".join(f"int4send(CAST(count(*) FILTER (WHERE v.band < {b}) AS integer))"
                        for b in range(1, BANDS))}
    FROM ({BANDED}) AS v
    GROUP BY 1, 2, 3, 4, 5"""
# Each measure's edges: the quantiles of its durations at every sixteenth (none changed for a
# measure without durations).
FIT = f"""
    UPDATE complaint_duration_bands b SET edges = q.edges
    FROM (SELECT v.measure,
                 percentile_disc(CAST(ARRAY[{", ".join(f"{n}.0 / {BANDS}"
                                                        for n in range(1, BANDS))}]
                                      AS float8[])) WITHIN GROUP (ORDER BY v.hours) AS edges
          FROM complaint c CROSS JOIN LATERAL ({VALUES.ROWS.format(c='c')}) AS v
          GROUP BY v.measure) AS q
    WHERE q.measure = b.measure"""
FIT_FUNCTION = f"""
    CREATE FUNCTION fit_duration_bands() RETURNS void LANGUAGE plpgsql SET jit = off AS $$
    BEGIN
        LOCK TABLE complaint IN SHARE MODE;
        {FIT};
        TRUNCATE complaint_area_duration_values;
        {BACKFILL};
        -- a breakdown's two reads tell from it that the rows changed between them
        UPDATE data_version SET version = version + 1, changed_at = now()
        WHERE table_name = 'complaint';
    END $$"""
OLD_BACKFILL = f"TRUNCATE complaint_area_duration_values; {VALUES.BACKFILL}"


def rebuild_function() -> str:
    """``rebuild_rollups()`` of 0038, refitting the bands and recounting this table
    (``fit_duration_bands()``) instead of 0032's backfill."""
    before = FINE.rebuild_function()
    assert before.count(OLD_BACKFILL) == 1
    return before.replace(OLD_BACKFILL, "PERFORM fit_duration_bands()")


def upgrade() -> None:
    op.execute("""
        CREATE TABLE complaint_duration_bands (
            measure text PRIMARY KEY CHECK (measure IN ('first_action', 'resolution')),
            edges float8[] NOT NULL CHECK (cardinality(edges) = 15)
        )""")
    op.execute("INSERT INTO complaint_duration_bands VALUES "
               + ", ".join(f"('{m}', ARRAY[{', '.join(map(str, DEFAULT_EDGES))}]::float8[])"
                           for m in ("first_action", "resolution")))
    for function in FUNCTIONS:
        op.execute(function)
    op.execute("ALTER TABLE complaint_area_duration_values ADD COLUMN bands bytea")
    op.execute(FIT_FUNCTION)
    op.execute("SELECT fit_duration_bands()")
    op.execute("ALTER TABLE complaint_area_duration_values ALTER COLUMN bands SET NOT NULL")
    op.execute("ANALYZE complaint_area_duration_values")
    op.execute(TRIGGER_FUNCTION)
    op.execute(rebuild_function())


def downgrade() -> None:
    op.execute(FINE.rebuild_function())
    op.execute(VALUES.TRIGGER_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.execute("DROP FUNCTION fit_duration_bands()")
    op.execute("ALTER TABLE complaint_area_duration_values DROP COLUMN bands")
    for name in ("band_start(bytea, bytea, integer)", "bands_moved(bytea, integer, integer)",
                 "float8s_without_between(bytea, float8, integer, integer)"):
        op.execute(f"DROP FUNCTION {name}")
    op.execute("DROP TABLE complaint_duration_bands")
