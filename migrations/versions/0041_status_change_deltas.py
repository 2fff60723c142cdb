"""A complaint whose status, category, routing or reception changes, without moving, adds to
and takes from the daily area rollup instead of recounting its day.

Migration 0013 keeps ``complaint_rollup`` exact by recounting the (generation, level, area,
day) groups a statement touched: for a status change, every complaint received that day in
the whole city is read, placed and counted, once per generation and level. At 10 million
complaints (some 9,000 a day) that was 30 ms of the 55 ms a complaint resolved costs in
triggers (docs/benchmarks.md, "ninth pass"). 0023 made insertions deltas; this does the same
for updates.

What an update changes is known exactly when the complaint does not move: its placements in
``complaint_area`` are those of before and after (only ``complaint_area_move``, on a new
location, rewrites them), so each changed row counts one less in the group of its old row
and one more in that of its new row, each placed as 0013 places it (``placed_area``: the
routed area in its own generation and level, else the covering one). The function sums those
into one delta per (generation, level, area, day, category, status), takes the areas' advisory
locks as every writer of the rollup does (0013), empties the rows that fall to zero, lowers the
others, and adds the gains (``INSERT … ON CONFLICT``).

Three cases still recount, with 0013's statements:

* a statement that moves a changed complaint: its placements change under it, in an order
  of triggers the recount does not depend on;
* a delta that finds the rollup out of step (a row to take from missing, or fewer than it
  takes): the rollup is repaired for those groups rather than left wrong or refused;
* a delta that changed while the function waited for its areas' locks: the writer that held
  them (a boundary re-import, whose statements recount) may have placed the complaints in
  other areas. The deltas are read once to know which locks to take, and again under them.

Revision ID: 0041_status_change_deltas
Revises: 0040_duration_triggers_pruned
Create Date: 2026-12-07
"""

import importlib

from alembic import op

revision = "0041_status_change_deltas"
down_revision = "0040_duration_triggers_pruned"
branch_labels = None
depends_on = None

GRIDS = importlib.import_module("migrations.versions.0017_grid_rollups")
DAILY = GRIDS.DAILY  # 0013
RECOUNT = DAILY.statements(GRIDS.PLACED_CALL)[0]["complaint_rollup_updated"]

KEY = ("generation_id", "level", "area_id", "day", "category_code", "status")
MATCHES = f"({', '.join(f'r.{k}' for k in KEY)}) = ({', '.join(f'd.{k}' for k in KEY)})"
GROUPED_BY = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in DAILY.GROUPED_BY)


def side(row: str) -> str:
    """The id and grouped columns of ``row`` (o: old, n: new)."""
    return ", ".join(f"{row}.{c}" for c in ("id", *DAILY.GROUPED_BY))


# Each changed row's old side (-1) and new side (+1), in every generation and level where it
# is placed, summed per group of the rollup: the groups that change, with their changes.
DELTAS = f"""
    WITH gl AS MATERIALIZED {DAILY.LEVELS}  -- read once, not once per side
    SELECT p.generation_id, p.level, p.area_id,
           (p.created_at AT TIME ZONE '{DAILY.CITY_TIME_ZONE}')::date AS day,
           p.category_code, p.status, sum(p.change)::integer AS complaints
    FROM (SELECT gl.generation_id, gl.level, c.created_at, c.category_code, c.status, c.change,
                 placed_area(gl.generation_id, gl.level, routed.generation_id, routed.level,
                             routed.id, ca.area_id) AS area_id
          FROM old_rows o JOIN new_rows n ON n.id = o.id
          CROSS JOIN LATERAL (VALUES ({side("o")}, -1), ({side("n")}, 1))
              AS c(id, {", ".join(DAILY.GROUPED_BY)}, change)
          CROSS JOIN gl
          LEFT JOIN admin_area routed
              ON routed.id = CASE gl.level WHEN 'ward' THEN c.ward_id ELSE c.district_id END
          LEFT JOIN complaint_area ca
              ON ca.generation_id = gl.generation_id AND ca.level = gl.level
                 AND ca.complaint_id = c.id
          WHERE {GROUPED_BY}) p
    WHERE p.area_id IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
    HAVING sum(p.change) <> 0
    ORDER BY 1, 2, 3, 4, 5, 6"""

UPDATED = f"""
    CREATE OR REPLACE FUNCTION complaint_rollup_updated() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        touched boolean;  -- the recount's
        deltas complaint_rollup[];  -- complaints: the change, negative for a loss
        recount boolean;
        emptied integer;
        lowered integer;
    BEGIN
        recount := EXISTS (SELECT FROM old_rows o JOIN new_rows n ON n.id = o.id
                           WHERE o.location IS DISTINCT FROM n.location AND ({GROUPED_BY}));
        IF NOT recount THEN
            deltas := ARRAY(SELECT CAST(ROW(d.*) AS complaint_rollup) FROM ({DELTAS}) d);
            PERFORM pg_advisory_xact_lock({DAILY.LOCK_CLASS}, bucket)
            FROM (SELECT DISTINCT area_id % {DAILY.LOCK_BUCKETS} AS bucket FROM unnest(deltas)
                  ORDER BY bucket) AS buckets;
            -- read again now that no other writer of these areas is under way: one that held
            -- them (a boundary re-import) may have placed the complaints elsewhere meanwhile
            recount := deltas IS DISTINCT FROM ARRAY(
                SELECT CAST(ROW(d.*) AS complaint_rollup) FROM ({DELTAS}) d);
        END IF;
        IF NOT recount THEN
            DELETE FROM complaint_rollup r USING unnest(deltas) d
            WHERE {MATCHES} AND d.complaints < 0 AND r.complaints + d.complaints = 0;
            GET DIAGNOSTICS emptied = ROW_COUNT;
            UPDATE complaint_rollup r SET complaints = r.complaints + d.complaints
            FROM unnest(deltas) d
            WHERE {MATCHES} AND d.complaints < 0 AND r.complaints + d.complaints > 0;
            GET DIAGNOSTICS lowered = ROW_COUNT;
            recount := emptied + lowered
                       < (SELECT count(*) FROM unnest(deltas) d WHERE d.complaints < 0);
            IF NOT recount THEN
                INSERT INTO complaint_rollup AS r
                SELECT * FROM unnest(deltas) d WHERE d.complaints > 0
                ON CONFLICT ({", ".join(KEY)})
                DO UPDATE SET complaints = r.complaints + excluded.complaints;
            END IF;
        END IF;
        IF recount THEN
            {RECOUNT}
        END IF;
        RETURN NULL;
    END $$"""


def upgrade() -> None:
    op.execute(UPDATED)


def downgrade() -> None:
    DAILY.create_functions({"complaint_rollup_updated": RECOUNT}, replace=True)
