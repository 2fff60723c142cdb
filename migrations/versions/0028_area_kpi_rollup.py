"""The statistics' breakdowns by district and ward read a rollup per routed area, and the
complaints' durations through indexes in area order.

The statistics (``analytics/kpi.py``) break their figures down by the district and the ward a
complaint was **routed** to (``complaint.district_id``, ``ward_id``: the office that handled
it), not by the area that covers it, which the daily area rollup (0013) counts. Until now
each breakdown read every complaint of its window, in one statement (a scan of every year's
partition and a sort of all of them by area): at 1M complaints over three years, 80 % of the
statistics with breakdowns.

* ``complaint_area_kpi_rollup`` is the statistics' rollup of 0021 (per city day, category,
  status and rating, with those resolved after their due time) keyed also by the routed
  district and ward: one row serves both breakdowns. Kept exactly as 0021's, by the same row
  trigger function written over this table, deferred to the commit as 0027 made the others;
  a submission adds one upsert at commit. A complaint moved to another area (a reroute, a
  transfer routed anew, a category corrected and routed anew) changes its ``district_id`` or
  ``ward_id``, so its row leaves the old area's count and joins the new one's; a boundary
  re-import changes placements (``complaint_area``), never the routing, so nothing here.
* The **percentiles** of the durations per area are not rolled up: a histogram per ward and
  month holds about one row per duration at any density a city reaches (2,754 wards × 36
  months × hundreds of buckets), so reading it costs what the durations cost. They are read
  instead, in area order, from ``complaint_ward_durations`` and
  ``complaint_district_durations``: the complaints that have a duration, keyed by area and
  holding the columns the statistics filter and count by, so that a breakdown's percentiles
  are an index-only scan in group order (each area's few hundred values sorted in memory by
  ``percentile_cont`` itself: the same floats) instead of a scan of every column of every
  complaint and a sort of them all. A submission has no duration: these indexes change when a
  complaint is first acted on or resolved, and then with its updates.
* "Overdue" per area is counted over the open complaints (it changes with the clock), through
  ``complaint_due``: rebuilt holding the area ids too, so the count is index-only.

Revision ID: 0028_area_kpi_rollup
Revises: 0027_counters_at_commit
Create Date: 2026-12-03
"""

import importlib

from alembic import op

revision = "0028_area_kpi_rollup"
down_revision = "0027_counters_at_commit"
branch_labels = None
depends_on = None

KPI = importlib.import_module("migrations.versions.0021_kpi_rollup")
DURATIONS = importlib.import_module("migrations.versions.0025_duration_rollup")
AT_COMMIT = importlib.import_module("migrations.versions.0027_counters_at_commit")

AREAS = ("district_id", "ward_id")
# The key of complaint {c}'s row: 0021's, then its routed areas.
ROW = ", ".join((KPI.ROW, *(f"{{c}}.{a}" for a in AREAS)))
KEY = ("day", "category_code", "status", "rating", *AREAS)
MATCHES = (KPI.MATCHES + "".join(f" AND r.{a} IS NOT DISTINCT FROM OLD.{a}" for a in AREAS))

TRIGGER_FUNCTION = KPI.row_trigger_function("complaint_area_kpi_rollup", ROW, MATCHES, KEY)

COLUMNS = (*KPI.COLUMNS, *AREAS)
DEFERRED = " DEFERRABLE INITIALLY DEFERRED" + AT_COMMIT.EACH_ROW
TRIGGERS = [
    # (name, definition): constraint triggers, run at commit (0027)
    ("complaint_area_kpi_rollup_insert", "AFTER INSERT ON complaint" + DEFERRED),
    ("complaint_area_kpi_rollup_update", "AFTER UPDATE ON complaint" + DEFERRED + " WHEN (("
     + ", ".join(f"OLD.{c}" for c in COLUMNS) + ") IS DISTINCT FROM ("
     + ", ".join(f"NEW.{c}" for c in COLUMNS) + "))"),
    ("complaint_area_kpi_rollup_delete", "AFTER DELETE ON complaint" + DEFERRED),
]

BACKFILL = f"""
    INSERT INTO complaint_area_kpi_rollup
    SELECT {ROW.format(c="c")}, count(*), sum({KPI.LATE.format(c="c")})
    FROM complaint c GROUP BY 1, 2, 3, 4, 5, 6"""

# The complaints with a duration, in area order, with what the statistics filter them by
# (the time of reception, category, status) and the durations themselves.
DURATION_COLUMNS = ("INCLUDE (created_at, category_code, status, hours_to_first_action, "
                    "hours_to_resolution) WHERE hours_to_first_action IS NOT NULL "
                    "OR hours_to_resolution IS NOT NULL")
INDEXES = {f"complaint_{a.removesuffix('_id')}_durations": f"({a}) {DURATION_COLUMNS}"
           for a in AREAS}
DUE_INCLUDES = {False: "INCLUDE (created_at, category_code)",
                True: "INCLUDE (created_at, category_code, district_id, ward_id)"}


def due_index(areas: bool) -> None:
    """``complaint_due`` holding the area ids too (or, as 0025 made it, not)."""
    op.execute("DROP INDEX complaint_due")
    op.execute(DURATIONS.DUE.format(include=DUE_INCLUDES[areas]))


def backfills(areas: bool) -> str:
    """The recounts of ``rebuild_rollups()`` of 0025, with (or without) this rollup's."""
    found = DURATIONS.MONTHS.backfills(month=True)
    found = f"TRUNCATE complaint_duration_rollup; {DURATIONS.BACKFILL}; {found}"
    if areas:
        found = f"TRUNCATE complaint_area_kpi_rollup; {BACKFILL}; {found}"
    return found


def rebuild_function(areas: bool) -> str:
    """``rebuild_rollups()`` of 0025, with (or without) this rollup."""
    return DURATIONS.GRIDS.rebuild_function(backfills(areas))


def name_partition_indexes() -> None:
    op.execute("SELECT name_partition_indexes(inhrelid::regclass) FROM pg_inherits "
               "WHERE inhparent = 'complaint'::regclass")


def upgrade() -> None:
    op.execute("""
        CREATE TABLE complaint_area_kpi_rollup (
            day date NOT NULL,  -- in the city's time zone
            category_code text NOT NULL,
            status text NOT NULL,
            rating text,  -- NULL: not rated
            district_id integer,  -- the routed district and ward (NULL: none)
            ward_id integer,
            complaints integer NOT NULL CHECK (complaints >= 0),
            late integer NOT NULL CHECK (late >= 0 AND late <= complaints),
            -- a count's update changes no indexed column: a HOT update, the index untouched
            UNIQUE NULLS NOT DISTINCT (day, category_code, status, rating, district_id,
                                       ward_id)
        )""")
    op.execute(BACKFILL)
    op.execute("ANALYZE complaint_area_kpi_rollup")
    op.execute(TRIGGER_FUNCTION)
    for name, definition in TRIGGERS:
        op.execute(f"CREATE CONSTRAINT TRIGGER {name} {definition} "
                   f"EXECUTE FUNCTION complaint_area_kpi_rollup_row()")
    op.execute("""
        CREATE FUNCTION complaint_area_kpi_rollup_truncated() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN TRUNCATE complaint_area_kpi_rollup; RETURN NULL; END $$""")
    op.execute("CREATE TRIGGER complaint_area_kpi_rollup_truncate AFTER TRUNCATE ON complaint "
               "FOR EACH STATEMENT EXECUTE FUNCTION complaint_area_kpi_rollup_truncated()")
    op.execute(rebuild_function(areas=True))
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON complaint {definition}")
    due_index(areas=True)
    name_partition_indexes()


def downgrade() -> None:
    due_index(areas=False)
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
    name_partition_indexes()
    op.execute(rebuild_function(areas=False))
    op.execute("DROP TRIGGER complaint_area_kpi_rollup_truncate ON complaint")
    op.execute("DROP FUNCTION complaint_area_kpi_rollup_truncated()")
    for name, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON complaint")
    op.execute("DROP FUNCTION complaint_area_kpi_rollup_row()")
    op.execute("DROP TABLE complaint_area_kpi_rollup")
