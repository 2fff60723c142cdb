"""The durations of each routed ward and city month, packed, for the breakdowns' percentiles.

The statistics' breakdowns by district and ward report each area's median and 90th percentile
of the hours to first action and to resolution, as ``percentile_cont`` computes them: exact
values of known rank. 0028 reads them in area order from indexes holding every complaint
with a duration: at 10 million complaints a year's breakdown reads 3.3 million index entries
per level (docs/benchmarks.md, "Ten million complaints"). No histogram helps at this grain: a
ward's month holds about a hundred durations, so a histogram per ward and month is as long
as the durations themselves (0028).

``complaint_area_duration_values`` holds instead the durations themselves, packed, per city
month, measure (first action; resolution, with the status), routed district and ward: about
four rows per ward and month, in no order. A year's breakdown reads 130,000 rows at 10M, not
3.3 million entries, and both levels read the same rows (a district's durations are its
wards'). The values are packed as ``float8send`` writes them (8 bytes each, big-endian), so
that PostgreSQL joins an area's rows with ``string_agg`` and numpy reads them as they come
(``analytics/area_durations.py``); numpy then selects the ranks: the same floats as
``percentile_cont``'s sort. (A ``float8[]`` would be joined by ``array_cat``, which copies
the whole array so far at each row.)

The resolution rows keep the complaint's status, so that which statuses are "processed" stays
in workflow/states.py, applied when the rows are read; the first action's rows have status
NULL (``duration_keys`` of 0025). Kept like the other rollups: row constraint triggers on
``complaint``, run at commit (0027), fired by a change of a column read here; a complaint's
old value leaves its row (one occurrence, ``float8s_without``), its new one joins; an emptied
row is deleted. TRUNCATE empties it; ``rebuild_rollups()`` recounts it with the others.

Revision ID: 0032_area_duration_values
Revises: 0031_rate_limit_cleanup_bounded
Create Date: 2026-12-04
"""

import importlib

from alembic import op

revision = "0032_area_duration_values"
down_revision = "0031_rate_limit_cleanup_bounded"
branch_labels = None
depends_on = None

MONTHS = importlib.import_module("migrations.versions.0022_grid_month_rollup")
DUE = importlib.import_module("migrations.versions.0030_due_rollup")

KEY = ("measure", "month", "status", "district_id", "ward_id")
# The rows of complaint {c}: its key's values and one duration (none without a duration).
ROWS = ("SELECT k.measure, " + MONTHS.MONTH.format(created="{c}.created_at") + " AS month,"
        " k.status, {c}.district_id, {c}.ward_id, CASE k.measure WHEN 'first_action'"
        " THEN {c}.hours_to_first_action ELSE {c}.hours_to_resolution END AS hours"
        " FROM duration_keys({c}.status, {c}.hours_to_first_action, {c}.hours_to_resolution)"
        " AS k")
MATCHES = " AND ".join(f"r.{k} IS NOT DISTINCT FROM o.{k}" for k in KEY)
# The packed values without the first of them equal to a value (NULL when none is): the
# 8-byte slots are compared, never bytes across two of them.
WITHOUT_FUNCTION = """
    CREATE FUNCTION float8s_without(packed bytea, value float8) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT overlay(packed PLACING ''::bytea FROM slot * 8 + 1 FOR 8)
        FROM generate_series(0, length(packed) / 8 - 1) AS slot
        WHERE substring(packed FROM slot * 8 + 1 FOR 8) = float8send(value)
        ORDER BY slot LIMIT 1
    $$"""

TRIGGER_FUNCTION = f"""
    CREATE FUNCTION complaint_area_duration_values_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE complaint_area_duration_values r
            SET hours = float8s_without(r.hours, o.hours)
            FROM ({ROWS.format(c="OLD")}) AS o WHERE {MATCHES};
            DELETE FROM complaint_area_duration_values r USING ({ROWS.format(c="OLD")}) AS o
            WHERE {MATCHES} AND length(r.hours) = 0;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO complaint_area_duration_values AS r
            SELECT {", ".join(f"n.{k}" for k in KEY)}, float8send(n.hours)
            FROM ({ROWS.format(c="NEW")}) AS n
            ON CONFLICT ({", ".join(KEY)}) DO UPDATE SET hours = r.hours || EXCLUDED.hours;
        END IF;
        RETURN NULL;
    END $$"""

COLUMNS = ("created_at", "status", "district_id", "ward_id", "hours_to_first_action",
           "hours_to_resolution")
TRIGGERS = [
    # (name, definition): constraint triggers, run at commit (0027)
    ("complaint_area_duration_values_insert",
     "AFTER INSERT ON complaint" + DUE.AREAS.DEFERRED),
    ("complaint_area_duration_values_update", "AFTER UPDATE ON complaint" + DUE.AREAS.DEFERRED
     + " WHEN ((" + ", ".join(f"OLD.{c}" for c in COLUMNS) + ") IS DISTINCT FROM ("
     + ", ".join(f"NEW.{c}" for c in COLUMNS) + "))"),
    ("complaint_area_duration_values_delete",
     "AFTER DELETE ON complaint" + DUE.AREAS.DEFERRED),
]

BACKFILL = f"""
    INSERT INTO complaint_area_duration_values
    SELECT {", ".join(f"v.{k}" for k in KEY)}, string_agg(float8send(v.hours), ''::bytea)
    FROM complaint c CROSS JOIN LATERAL ({ROWS.format(c="c")}) AS v
    GROUP BY 1, 2, 3, 4, 5"""


def backfills(values: bool) -> str:
    """The recounts of ``rebuild_rollups()`` of 0030, with (or without) this rollup's."""
    found = f"TRUNCATE complaint_due_rollup; {DUE.BACKFILL}; {DUE.AREAS.backfills(True)}"
    if values:
        found = f"TRUNCATE complaint_area_duration_values; {BACKFILL}; {found}"
    return found


def rebuild_function(values: bool) -> str:
    """``rebuild_rollups()`` of 0030, with (or without) this rollup."""
    return DUE.GRIDS.rebuild_function(backfills(values))


def upgrade() -> None:
    op.execute("""
        CREATE TABLE complaint_area_duration_values (
            measure text NOT NULL CHECK (measure IN ('first_action', 'resolution')),
            month date NOT NULL,  -- the first day of the month, in the city's time zone
            status text,  -- resolution: the complaint's; first action: NULL
            district_id integer,  -- routed (complaint.district_id); NULL: not routed
            ward_id integer,
            -- float8send of each duration, in no order; a row whose last leaves is deleted
            hours bytea NOT NULL,
            UNIQUE NULLS NOT DISTINCT (measure, month, status, district_id, ward_id)
        )""")
    op.execute(WITHOUT_FUNCTION)
    op.execute(BACKFILL)
    op.execute("ANALYZE complaint_area_duration_values")
    op.execute(TRIGGER_FUNCTION)
    for name, definition in TRIGGERS:
        op.execute(f"CREATE CONSTRAINT TRIGGER {name} {definition} "
                   f"EXECUTE FUNCTION complaint_area_duration_values_row()")
    op.execute("""
        CREATE FUNCTION complaint_area_duration_values_truncated() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN TRUNCATE complaint_area_duration_values; RETURN NULL; END $$""")
    op.execute("CREATE TRIGGER complaint_area_duration_values_truncate AFTER TRUNCATE ON "
               "complaint FOR EACH STATEMENT "
               "EXECUTE FUNCTION complaint_area_duration_values_truncated()")
    op.execute(rebuild_function(values=True))


def downgrade() -> None:
    op.execute(rebuild_function(values=False))
    op.execute("DROP TRIGGER complaint_area_duration_values_truncate ON complaint")
    op.execute("DROP FUNCTION complaint_area_duration_values_truncated()")
    for name, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON complaint")
    op.execute("DROP FUNCTION complaint_area_duration_values_row()")
    op.execute("DROP TABLE complaint_area_duration_values")
    op.execute("DROP FUNCTION float8s_without(bytea, float8)")
