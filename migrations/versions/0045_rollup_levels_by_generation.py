"""The daily area rollup's triggers find the (generation, level) pairs to count in by one
index probe a pair, not by reading every ward and district.

Each function that keeps ``complaint_rollup`` (0013, 0023, 0041, 0044) places a complaint in
every boundary generation and level, found with ``SELECT DISTINCT generation_id, level FROM
admin_area WHERE level IN ('ward', 'district')``. PostgreSQL has no skip scan, so that reads
every ward and district: 3,060 index entries, 1.2 ms, for the national bench's 34 provinces,
twice per status change (its deltas are read before and after their areas' locks) and once
or twice per submission. At 1M complaints that was 2.4 of a work start's 12 ms
(docs/benchmarks.md, "eleventh pass"), and it grows with the number of areas, not of
complaints.

The pairs are now the generations (a handful of rows) times the two levels, kept where the
generation has an area of that level: one probe of ``admin_area``'s unique (generation,
level, code) index each (:data:`BY_GENERATION`). The same pairs, so the same counts
(``tests/test_rollups.py``).

The functions were written by several migrations, two of them with the expression indented
differently, so each function in the database that holds it is rewritten in place
(``pg_get_functiondef``, the expression replaced whatever its spacing). A migration after this
one that writes these functions again from 0013's ``LEVELS`` must use :data:`BY_GENERATION`.
Downgrading writes 0013's expression back (0023's spacing is not restored; the SQL is the
same).

Revision ID: 0045_rollup_levels_by_generation
Revises: 0044_rollup_deltas_by_name
Create Date: 2026-12-07
"""

import importlib
import re

from alembic import op

revision = "0045_rollup_levels_by_generation"
down_revision = "0044_rollup_deltas_by_name"
branch_labels = None
depends_on = None

DAILY = importlib.import_module("migrations.versions.0013_rollups")
# One row of the unique index's range is enough. LIMIT 1 keeps each probe apart (as an
# EXISTS, PostgreSQL joined the generations to the distinct pairs of all areas, the reading
# this avoids), and ORDER BY the index's last column keeps it in the index (without it a
# sequential scan, expected to stop early, was chosen).
BY_GENERATION = """(SELECT g.id AS generation_id, l.level
             FROM boundary_generation g CROSS JOIN (VALUES ('ward'), ('district')) AS l(level)
             CROSS JOIN LATERAL (SELECT FROM admin_area a
                                 WHERE a.generation_id = g.id AND a.level = l.level
                                 ORDER BY a.code LIMIT 1) AS held)"""


def pattern(expression: str) -> str:
    """A POSIX regular expression matching ``expression`` with any run of white space where it
    has one."""
    return r"\s+".join(re.escape(word) for word in expression.split())


def rewrite(expression: str, replacement: str) -> None:
    """Every function whose body holds ``expression`` (spaced in any way) created again with
    ``replacement`` in its place."""
    op.execute(f"""
        DO $rewrite$
        DECLARE
            f oid;
        BEGIN
            FOR f IN SELECT oid FROM pg_proc WHERE prosrc ~ $p${pattern(expression)}$p$ LOOP
                EXECUTE regexp_replace(pg_get_functiondef(f), $p${pattern(expression)}$p$,
                                       $r${replacement}$r$, 'g');
            END LOOP;
        END $rewrite$""")


def upgrade() -> None:
    rewrite(DAILY.LEVELS, BY_GENERATION)


def downgrade() -> None:
    rewrite(BY_GENERATION, DAILY.LEVELS)
