"""Per-complaint measures every analysis reads, computed once when a complaint is written.

Profiling the analyses at a million complaints showed most of their time going into two
per-row computations, repeated by every statement of every request:

* the hours to first action and to resolution (``date_part`` of timestamps goes through
  ``numeric``): a percentile over 370,000 durations took 190 ms, of which 50 ms was the sort;
* the projection of each point into its UTM zone (``ST_Transform``): a third of a hotspot
  analysis.

Both depend only on the row itself, so they are stored generated columns: PostgreSQL computes
them on every insert and update, no code path can forget them, and they can never be stale.
The projected coordinates are those of the point's own UTM zone (``utm_epsg``); an analysis in
another zone (a city on a zone edge) projects such points itself.

The covering index of 0005/0006 holds them instead of ``first_action_at`` (which nothing
analytical reads any more), so the analyses stay index-only scans.

Revision ID: 0007_stored_measures
Revises: 0006_complaint_area
Create Date: 2026-11-28
"""

from alembic import op

revision = "0007_stored_measures"
down_revision = "0006_complaint_area"
branch_labels = None
depends_on = None

# The interval between two timestamps is exact (microseconds); its epoch is exact in float8.
MEASURES = {
    "hours_to_first_action": "date_part('epoch', first_action_at - created_at) / 3600.0",
    "hours_to_resolution": "date_part('epoch', resolved_at - created_at) / 3600.0",
    "utm_epsg": "utm_srid(location)",
    "utm_x": "ST_X(ST_Transform(location, utm_srid(location)))",
    "utm_y": "ST_Y(ST_Transform(location, utm_srid(location)))",
}
TYPES = {"utm_epsg": "integer"}

BEFORE = """id, category_code, status, ward_id, district_id, first_action_at, resolved_at,
            due_at, rating, location"""
AFTER = f"""id, category_code, status, ward_id, district_id, resolved_at, due_at, rating,
            location, {", ".join(MEASURES)}"""


def covering_index(columns: str) -> None:
    op.execute("DROP INDEX complaint_analytics")
    op.execute(f"CREATE INDEX complaint_analytics ON complaint (created_at) INCLUDE ({columns})")


def upgrade() -> None:
    op.execute("ALTER TABLE complaint " + ", ".join(
        f"ADD COLUMN {name} {TYPES.get(name, 'float8')} GENERATED ALWAYS AS ({sql}) STORED"
        for name, sql in MEASURES.items()))
    covering_index(AFTER)


def downgrade() -> None:
    covering_index(BEFORE)
    op.execute("ALTER TABLE complaint " + ", ".join(f"DROP COLUMN {name}" for name in MEASURES))
