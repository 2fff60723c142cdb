"""Complaints per placed area and month, for choropleths over long windows.

``complaint_rollup`` (0013) counts complaints per boundary generation, level, placed area, city
day, category and status. In a national deployment almost every complaint is alone in its row
(2,754 wards × 1,100 days × categories × statuses): at 10 million complaints the table holds
4 GB, and a choropleth of the wards over all years sums millions of rows. ``complaint_month_rollup``
counts them per generation, level, area and **city month** only: at most areas × months rows,
whatever the number of complaints. An analysis whose filter names no category and no status
reads its whole months here and the days at the edges of its window from the daily table
(``analytics/rollups.py``), as the grid does with 0022's monthly rollup.

It is kept from the daily rollup itself, not from the complaints: statement triggers on
``complaint_rollup`` add what each statement inserted and subtract what it deleted (its
transition tables, updates being both), per month, so whatever writes the daily rollup (the
recounts of 0013, the deltas of 0023, ``rebuild_rollups()``, a bulk load's count) keeps this one
equal to its sum by month, and the rule of which area holds a complaint stays in one place.
Writers of the daily rollup hold its areas' advisory locks (0013), which serialise these
updates too; a count that reaches 0 is deleted; TRUNCATE of the daily rollup empties it
(at most areas × months rows).

Revision ID: 0029_area_month_rollup
Revises: 0028_area_kpi_rollup
Create Date: 2026-12-04
"""

from alembic import op

revision = "0029_area_month_rollup"
down_revision = "0028_area_kpi_rollup"
branch_labels = None
depends_on = None

KEY = ("generation_id", "level", "month", "area_id")
# The key of daily row {r}, and its complaints counted with {sign}.
MONTH_OF = "{r}.generation_id, {r}.level, CAST(date_trunc('month', {r}.day) AS date), {r}.area_id"
INSERTED = f"SELECT {MONTH_OF.format(r='n')}, n.complaints FROM new_rows n"
DELETED = f"SELECT {MONTH_OF.format(r='o')}, -o.complaints FROM old_rows o"

FUNCTIONS = {  # name: the rows ({key}, complaints) a statement added to each month
    "complaint_month_rollup_inserted": INSERTED,
    "complaint_month_rollup_updated": f"{INSERTED} UNION ALL {DELETED}",
    "complaint_month_rollup_deleted": DELETED,
}
TRIGGERS = [
    # (name, event, transition tables, function)
    ("complaint_month_rollup_insert", "INSERT", "NEW TABLE AS new_rows",
     "complaint_month_rollup_inserted"),
    ("complaint_month_rollup_update", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows",
     "complaint_month_rollup_updated"),
    ("complaint_month_rollup_delete", "DELETE", "OLD TABLE AS old_rows",
     "complaint_month_rollup_deleted"),
]


def function(name: str, rows: str) -> str:
    """A statement trigger function adding ``rows``' complaints to their months: the months
    gaining some by an upsert, those losing some by an UPDATE (an upsert's row is checked
    against ``complaints >= 0`` before it meets the conflict), then deleting the months left
    with none. The areas' advisory locks of the daily rollup's writers order these rows'."""
    key = ", ".join(KEY)
    summed = (f"SELECT {key}, sum(complaints) AS n FROM ({rows}) AS d({key}, complaints) "
              f"GROUP BY {key}")
    same = f"({', '.join(f'r.{k}' for k in KEY)}) = ({', '.join(f'd.{k}' for k in KEY)})"
    return f"""
    CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO complaint_month_rollup AS r
        SELECT {key}, n FROM ({summed}) AS d WHERE n > 0
        ON CONFLICT ({key}) DO UPDATE SET complaints = r.complaints + excluded.complaints;
        UPDATE complaint_month_rollup r SET complaints = r.complaints + d.n
        FROM ({summed}) AS d WHERE d.n < 0 AND {same};
        DELETE FROM complaint_month_rollup r USING ({summed}) AS d
        WHERE d.n < 0 AND {same} AND r.complaints = 0;
        RETURN NULL;
    END $$"""


BACKFILL = f"""
    INSERT INTO complaint_month_rollup
    SELECT {MONTH_OF.format(r='r')}, sum(r.complaints) FROM complaint_rollup r
    GROUP BY 1, 2, 3, 4"""


def upgrade() -> None:
    op.execute("""
        CREATE TABLE complaint_month_rollup (
            generation_id integer NOT NULL,
            level text NOT NULL,
            month date NOT NULL,  -- the first day of the month, in the city's time zone
            area_id integer NOT NULL,
            complaints integer NOT NULL CHECK (complaints >= 0),
            -- the counts in the key's index too: a choropleth over months is index-only
            PRIMARY KEY (generation_id, level, month, area_id) INCLUDE (complaints)
        )""")
    op.execute(BACKFILL)
    op.execute("ANALYZE complaint_month_rollup")
    for name, rows in FUNCTIONS.items():
        op.execute(function(name, rows))
    for name, event, transition, function_name in TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} AFTER {event} ON complaint_rollup "
                   f"REFERENCING {transition} FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION {function_name}()")
    # DELETE: a TRUNCATE naming both tables (a bulk load's) finds this one in use by itself.
    op.execute("""
        CREATE FUNCTION complaint_month_rollup_truncated() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN DELETE FROM complaint_month_rollup; RETURN NULL; END $$""")
    op.execute("CREATE TRIGGER complaint_month_rollup_truncate AFTER TRUNCATE ON "
               "complaint_rollup FOR EACH STATEMENT "
               "EXECUTE FUNCTION complaint_month_rollup_truncated()")


def downgrade() -> None:
    op.execute("DROP TABLE complaint_month_rollup")  # before its triggers' functions go
    for name, *_ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON complaint_rollup")
    op.execute("DROP TRIGGER complaint_month_rollup_truncate ON complaint_rollup")
    for name in (*FUNCTIONS, "complaint_month_rollup_truncated"):
        op.execute(f"DROP FUNCTION {name}()")
