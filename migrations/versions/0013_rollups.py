"""Daily rollups: complaints per boundary generation, level, area, city day, category and status.

A choropleth over whole days counts each complaint in the area of a generation it is *placed*
in (``analytics/areas.py``): the ward (district) it was routed to if that area belongs to the
generation, else the one whose boundary covers it (``complaint_area``). ``complaint_rollup``
holds those counts per day (``Asia/Ho_Chi_Minh``), so the analysis sums cells and days instead
of reading every complaint.

The rollup is kept exact in the writing transaction by statement triggers, whatever the write
path (API, seed COPY, workflow, boundary re-import). A trigger does not add or subtract deltas;
it collects the (generation, level, area, day) groups a statement can have touched, from the
transition tables, and **recounts** those groups from ``complaint`` and ``complaint_area``:

* complaints inserted, updated (status, category, routing, creation time) or deleted: the
  groups of their old and new rows;
* ``complaint_area`` rows inserted or deleted (a complaint moved, boundaries imported or
  re-imported): the groups of those rows.

Recounting whole groups, every category and status included, makes the result independent of
the order in which PostgreSQL fires these triggers and those of 0006/0008 (a statement that
moves a complaint *and* changes its status is recounted at the old and the new place either
way). Writers take a transaction-scoped advisory lock per group's area (hashed into
``LOCK_BUCKETS``) before recounting, so two transactions touching one area recount one after
the other, the second seeing the first's commit: writers must run at READ COMMITTED (the
default). TRUNCATE of ``complaint`` empties the rollup.

Revision ID: 0013_rollups
Revises: 0012_media_alerts
Create Date: 2026-12-02
"""

from alembic import op

revision = "0013_rollups"
down_revision = "0012_media_alerts"
branch_labels = None
depends_on = None

CITY_TIME_ZONE = "Asia/Ho_Chi_Minh"  # analytics/periods.py: the city's days
LOCK_CLASS = 1613  # first key of the rollup's advisory locks
LOCK_BUCKETS = 1024  # at most this many advisory locks per transaction

DAY = f"(({{created}}) AT TIME ZONE '{CITY_TIME_ZONE}')::date"
DAY_START = f"(({{day}})::timestamp AT TIME ZONE '{CITY_TIME_ZONE}')"

# Joins to find the area of generation {g}, level {level} a complaint {c} is placed in.
# ({PLACED}, formatted alike, is that area; the routed area is joined by id alone, so that the
# join is one probe.)
ROUTED = """LEFT JOIN admin_area routed
                ON routed.id = CASE {level} WHEN 'ward' THEN {c}.ward_id ELSE {c}.district_id END
            LEFT JOIN complaint_area ca
                ON ca.generation_id = {g} AND ca.level = {level} AND ca.complaint_id = {c}.id"""
PLACED = """COALESCE(CASE WHEN routed.generation_id = {g} AND routed.level = {level}
                          THEN routed.id END, ca.area_id)"""
LEVELS = """(SELECT DISTINCT generation_id, level FROM admin_area
             WHERE level IN ('ward', 'district'))"""

# The groups of a set of complaint_area rows {rows}.
PLACEMENT_GROUPS = f"""
    SELECT r.generation_id, r.level, r.area_id, {DAY.format(created="c.created_at")} AS day
    FROM {{rows}} r JOIN complaint c ON c.id = r.complaint_id"""

# The old (o) or new (n) versions of updated complaints whose grouping changed: a workflow
# step that changes nothing counted here (a note, a version) recounts nothing.
GROUPED_BY = ("status", "category_code", "created_at", "ward_id", "district_id")
CHANGED = ("(SELECT {side}.* FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE ("
           + ", ".join(f"o.{c}" for c in GROUPED_BY) + ") IS DISTINCT FROM ("
           + ", ".join(f"n.{c}" for c in GROUPED_BY) + "))")

# Every area's group on the days of the complaint rows {rows} (for deletions, whose
# placements are gone by the time the statement's triggers run).
DAY_GROUPS = f"""
    SELECT a.generation_id, a.level, a.id AS area_id, d.day
    FROM admin_area a
    CROSS JOIN (SELECT DISTINCT {DAY.format(created="o.created_at")} AS day FROM {{rows}} o) d
    WHERE a.level IN ('ward', 'district')"""

LOCK = f"""
    SELECT pg_advisory_xact_lock({LOCK_CLASS}, bucket)
    FROM (SELECT DISTINCT area_id % {LOCK_BUCKETS} AS bucket FROM ({{groups}}) g
          ORDER BY bucket) AS buckets"""

# Recount the groups {groups}: their rows go, then the days' complaints are read once per
# generation and level, placed, and counted where their group is one of those asked. (Two
# statements: one that upserts and deletes the rows that no longer have complaints would
# join the rollup against itself.)
FORGET = """
    DELETE FROM complaint_rollup r
    USING (SELECT DISTINCT generation_id, level, area_id, day FROM ({groups}) g) a
    WHERE (r.generation_id, r.level, r.area_id, r.day)
          = (a.generation_id, a.level, a.area_id, a.day)"""


def recount(groups: str, count: str) -> str:
    """Statements of a trigger function, run with EXECUTE: planned on every run, for the
    transition tables at hand, never with a plan cached while the tables were empty. A
    statement that touched no group (a workflow note, a new complaint placed where its rows
    of complaint_area say) stops after one query."""
    steps = "\n".join(f"EXECUTE $sql${part.format(groups=groups)}$sql$;"
                      for part in (LOCK, FORGET, count))
    return f"""EXECUTE $sql$SELECT EXISTS ({groups})$sql$ INTO touched;
                IF touched THEN
                    {steps}
                END IF;"""


def union(*parts: str) -> str:
    return " UNION ".join(f"({part})" for part in parts)


def statements(placed: str) -> tuple[dict[str, str], str]:
    """The trigger functions (name: statements) and the backfill, for the placing rule
    ``placed`` (SQL over the joins of ``ROUTED``, with ``{g}`` and ``{level}``): migration
    0017 writes them again with its function ``placed_area``."""
    placed_gl = placed.format(g="gl.generation_id", level="gl.level")
    placed_d = placed.format(g="d.generation_id", level="d.level")
    # The groups of a set of complaint rows {rows} (old or new versions), in every generation.
    complaint_groups = f"""
    SELECT gl.generation_id, gl.level, {placed_gl} AS area_id,
           {DAY.format(created="c.created_at")} AS day
    FROM {{rows}} c CROSS JOIN {LEVELS} gl
    {ROUTED.format(g="gl.generation_id", level="gl.level", c="c")}
    WHERE {placed_gl} IS NOT NULL"""
    # The groups of new complaints {rows} placed by their routing elsewhere than their
    # covering area: the statement's complaint_area rows recount the others
    # (complaint_rollup_placed), whichever of the two triggers PostgreSQL fires first.
    routed_groups = f"""{complaint_groups}
      AND routed.generation_id = gl.generation_id AND routed.level = gl.level
      AND ca.area_id IS DISTINCT FROM routed.id"""
    count = f"""
    INSERT INTO complaint_rollup
    WITH asked AS (SELECT DISTINCT generation_id, level, area_id, day FROM ({{groups}}) g),
    placed AS (
        SELECT d.generation_id, d.level, {placed_d} AS area_id, d.day, c.category_code, c.status
        FROM (SELECT DISTINCT generation_id, level, day FROM asked) d
        CROSS JOIN LATERAL (  -- OFFSET 0: one index range scan per day, never a join filter
            SELECT id, ward_id, district_id, category_code, status FROM complaint
            WHERE created_at >= {DAY_START.format(day="d.day")}
              AND created_at < {DAY_START.format(day="d.day + 1")} OFFSET 0) c
        {ROUTED.format(g="d.generation_id", level="d.level", c="c")}
    )
    SELECT p.generation_id, p.level, p.area_id, p.day, p.category_code, p.status, count(*)
    FROM placed p
    JOIN asked a ON (a.generation_id, a.level, a.area_id, a.day)
                    = (p.generation_id, p.level, p.area_id, p.day)
    GROUP BY 1, 2, 3, 4, 5, 6"""
    functions = {
        "complaint_rollup_inserted": recount(routed_groups.format(rows="new_rows"), count),
        "complaint_rollup_updated": recount(union(
            complaint_groups.format(rows=CHANGED.format(side="o")),
            complaint_groups.format(rows=CHANGED.format(side="n"))), count),
        "complaint_rollup_deleted": recount(DAY_GROUPS.format(rows="old_rows"), count),
        "complaint_rollup_placed": recount(PLACEMENT_GROUPS.format(rows="changed_rows"), count),
        "complaint_rollup_truncated": "TRUNCATE complaint_rollup;",
    }
    # Every group from scratch: the backfill, and the test's reference in SQL form.
    backfill = f"""
    INSERT INTO complaint_rollup
    SELECT gl.generation_id, gl.level, {placed_gl}, {DAY.format(created="c.created_at")},
           c.category_code, c.status, count(*)
    FROM complaint c CROSS JOIN {LEVELS} gl
    {ROUTED.format(g="gl.generation_id", level="gl.level", c="c")}
    WHERE {placed_gl} IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6"""
    return functions, backfill


TRIGGER_FUNCTIONS, BACKFILL = statements(PLACED)
TRIGGERS = [
    # (name, table, event, transition, function)
    ("complaint_rollup_insert", "complaint", "INSERT", "NEW TABLE AS new_rows",
     "complaint_rollup_inserted"),
    ("complaint_rollup_update", "complaint", "UPDATE",
     "OLD TABLE AS old_rows NEW TABLE AS new_rows", "complaint_rollup_updated"),
    ("complaint_rollup_delete", "complaint", "DELETE", "OLD TABLE AS old_rows",
     "complaint_rollup_deleted"),
    ("complaint_rollup_truncate", "complaint", "TRUNCATE", None, "complaint_rollup_truncated"),
    ("complaint_rollup_place", "complaint_area", "INSERT", "NEW TABLE AS changed_rows",
     "complaint_rollup_placed"),
    ("complaint_rollup_unplace", "complaint_area", "DELETE", "OLD TABLE AS changed_rows",
     "complaint_rollup_placed"),
]


def create_functions(functions: dict[str, str], replace: bool = False) -> None:
    """The trigger functions, created (or replaced)."""
    for name, body in functions.items():
        op.execute(f"""
            CREATE {"OR REPLACE " if replace else ""}FUNCTION {name}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                touched boolean;
            BEGIN
                {body}
                RETURN NULL;
            END $$""")


def upgrade() -> None:
    op.execute("""
        CREATE TABLE complaint_rollup (
            generation_id integer NOT NULL,
            level text NOT NULL,
            area_id integer NOT NULL,
            day date NOT NULL,  -- in the city's time zone
            category_code text NOT NULL,
            status text NOT NULL,
            complaints integer NOT NULL CHECK (complaints > 0),
            PRIMARY KEY (generation_id, level, area_id, day, category_code, status)
        )""")
    op.execute("CREATE INDEX complaint_rollup_day ON complaint_rollup "
               "(generation_id, level, day) INCLUDE (area_id, category_code, status, complaints)")
    op.execute(BACKFILL)
    create_functions(TRIGGER_FUNCTIONS)
    for name, table, event, transition, function in TRIGGERS:
        referencing = f"REFERENCING {transition}" if transition else ""
        op.execute(f"""
            CREATE TRIGGER {name} AFTER {event} ON {table} {referencing}
            FOR EACH STATEMENT EXECUTE FUNCTION {function}()""")


def downgrade() -> None:
    for name, table, *_ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {table}")
    for name in TRIGGER_FUNCTIONS:
        op.execute(f"DROP FUNCTION {name}()")
    op.execute("DROP TABLE complaint_rollup")
