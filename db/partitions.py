"""The partitions of complaints and their events (yearly, migration 0018, docs/partitions.md)
and of the statistics' monthly rollups of durations (monthly, migration 0036).

A row whose year (or month) has no partition lands in the table's ``<table>_default``
partition, which every query reads whatever its time window, and which stops a partition for
that period from being created while it holds such rows. So partitions are made ahead of time:
the migrations make two years ahead, and ``phananh db partitions`` (yearly, e.g. from cron)
makes more, through the SQL functions ``add_yearly_partitions`` and ``add_monthly_partitions``
the migrations define.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, text

YEARLY = ("complaint", "complaint_event")
MONTHLY = ("complaint_area_duration_values", "complaint_duration_rollup",
           "complaint_duration_fine_rollup")
PARTITIONED = YEARLY + MONTHLY


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    bounds: str  # PostgreSQL's own words: FOR VALUES FROM (…) TO (…), or DEFAULT


def add_partitions(conn: Connection, years_ahead: int, now: datetime | None = None) -> list[str]:
    """Create the missing partitions from this year (or month) through ``years_ahead`` years
    on; their names."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    yearly = [name for table in YEARLY for name in conn.execute(
        text("SELECT add_yearly_partitions(:table, :first, :last)"),
        {"table": table, "first": today.year, "last": today.year + years_ahead}).scalars()]
    month = today.replace(day=1)
    last = date(month.year + years_ahead, month.month, 1)
    return yearly + [name for table in MONTHLY for name in conn.execute(
        text("SELECT add_monthly_partitions(:table, :first, :last)"),
        {"table": table, "first": month, "last": last}).scalars()]


def partitions(conn: Connection) -> list[Partition]:
    """Every partition of the partitioned tables, in the order of their bounds (defaults
    last)."""
    return [Partition(*row) for row in conn.execute(text("""
        SELECT p.relname, c.relname, pg_get_expr(c.relpartbound, c.oid)
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = ANY(:tables) AND p.relnamespace = 'public'::regnamespace
        ORDER BY p.relname, c.relname LIKE '%\\_default', c.relname"""),
        {"tables": list(PARTITIONED)})]


def default_rows(conn: Connection) -> dict[str, int]:
    """Rows in no yearly or monthly partition, per table: each is read by every windowed
    query."""
    return {table: conn.execute(text(f"SELECT count(*) FROM {table}_default")).scalar_one()
            for table in PARTITIONED}
