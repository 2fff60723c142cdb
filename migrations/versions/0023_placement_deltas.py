"""New complaints and new placements add to the daily rollup instead of recounting the day.

Migration 0013 keeps ``complaint_rollup`` exact by recounting, for every statement, the
(generation, level, area, day) groups it touched: the day's complaints are read, placed and
counted. For a new complaint that meant reading every complaint received that day in the
whole city, once per generation and level: a submission cost 32 ms of its 52 ms with 4,700
complaints that day (a national deployment receives ~9,000 a day). Yet what an insert changes
is known exactly, in two steps, if the rollup's trigger on ``complaint`` fires before the
placements are written (it is renamed ``complaint_1_rollup_insert``: PostgreSQL fires a table's
triggers by name, and the placements come from ``complaint_area_insert``):

1. ``complaint_1_rollup_insert``: a new complaint has no placement rows yet, so in each
   generation and level it is placed by its routing alone (``placed_area(…, covering NULL)``):
   where that is an area, the group gains one.
2. ``complaint_rollup_place``, for each new row of ``complaint_area``: a complaint placed by its
   routing in that generation and level stays where it is; one that was not (its routed area
   is of another generation, or it has none) now counts in the new row's area, which gains
   one. A row for (generation, level, complaint) cannot exist before (the primary key); a
   move deletes the old row first, and that statement recounts as before, so this holds for
   moves and boundary imports as well as for new complaints.

Each delta takes the advisory lock of its areas' buckets, as a recount does, before writing:
a concurrent recount of such an area runs wholly before or wholly after it and never drops it
(a recount's count comes from its own snapshot). Updates and deletions still recount.

Revision ID: 0023_placement_deltas
Revises: 0022_grid_month_rollup
Create Date: 2026-12-03
"""

from alembic import op

revision = "0023_placement_deltas"
down_revision = "0022_grid_month_rollup"
branch_labels = None
depends_on = None

# As in 0013 (a migration is a fixed point).
CITY_TIME_ZONE = "Asia/Ho_Chi_Minh"
LOCK_CLASS, LOCK_BUCKETS = 1613, 1024


def delta(name: str, placed: str) -> str:
    """A trigger function adding one per (generation, level, area, day, category, status) to
    the rollup for each row of ``placed`` (SQL with the columns generation_id, level, area_id
    (NULL: not counted) and c.*, the complaint), under its areas' locks, taken first."""
    groups = f"""
        SELECT p.generation_id, p.level, p.area_id,
               (p.created_at AT TIME ZONE '{CITY_TIME_ZONE}')::date AS day, p.category_code,
               p.status, count(*) AS complaints
        FROM ({placed}) p WHERE p.area_id IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5, 6"""
    return f"""
    CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock({LOCK_CLASS}, bucket)
        FROM (SELECT DISTINCT area_id % {LOCK_BUCKETS} AS bucket FROM ({groups}) g
              ORDER BY bucket) AS buckets;
        INSERT INTO complaint_rollup AS r {groups}
        ON CONFLICT (generation_id, level, area_id, day, category_code, status)
        DO UPDATE SET complaints = r.complaints + excluded.complaints;
        RETURN NULL;
    END $$"""


ROUTED = ("LEFT JOIN admin_area routed ON routed.id = "
          "CASE {level} WHEN 'ward' THEN c.ward_id ELSE c.district_id END")
# 1. New complaints, before their placements: where their routing alone places them.
INSERTED = delta("complaint_rollup_inserted_delta", f"""
    SELECT gl.generation_id, gl.level, c.created_at, c.category_code, c.status,
           placed_area(gl.generation_id, gl.level, routed.generation_id, routed.level,
                       routed.id, NULL) AS area_id
    FROM new_rows c
    CROSS JOIN (SELECT DISTINCT generation_id, level FROM admin_area
                WHERE level IN ('ward', 'district')) gl
    {ROUTED.format(level="gl.level")}""")
# 2. New placements: the complaints their routing did not place in that generation and level.
PLACED = delta("complaint_rollup_placed_delta", f"""
    SELECT a.generation_id, a.level, c.created_at, c.category_code, c.status,
           CASE WHEN placed_area(a.generation_id, a.level, routed.generation_id, routed.level,
                                 routed.id, NULL) IS NULL THEN a.area_id END AS area_id
    FROM added a JOIN complaint c ON c.id = a.complaint_id
    {ROUTED.format(level="a.level")}""")


# (table, trigger's name and transition table, function) before and after this migration.
TRIGGERS = [
    ("complaint", ("complaint_rollup_insert", "new_rows", "complaint_rollup_inserted"),
     ("complaint_1_rollup_insert", "new_rows", "complaint_rollup_inserted_delta")),
    ("complaint_area", ("complaint_rollup_place", "changed_rows", "complaint_rollup_placed"),
     ("complaint_rollup_place", "added", "complaint_rollup_placed_delta")),
]


def swap_trigger(table: str, old: tuple[str, str, str], new: tuple[str, str, str]) -> None:
    """Replace the AFTER INSERT statement trigger ``old`` of ``table`` by ``new``."""
    name, rows, function = new
    op.execute(f"DROP TRIGGER {old[0]} ON {table}")
    op.execute(f"""CREATE TRIGGER {name} AFTER INSERT ON {table}
                   REFERENCING NEW TABLE AS {rows}
                   FOR EACH STATEMENT EXECUTE FUNCTION {function}()""")


def upgrade() -> None:
    op.execute(INSERTED)
    op.execute(PLACED)
    for table, old, new in TRIGGERS:
        swap_trigger(table, old, new)


def downgrade() -> None:
    for table, old, new in TRIGGERS:
        swap_trigger(table, new, old)
    op.execute("DROP FUNCTION complaint_rollup_placed_delta()")
    op.execute("DROP FUNCTION complaint_rollup_inserted_delta()")
