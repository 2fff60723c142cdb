"""The yearly partitions of complaints and their events (migration 0018, docs/partitions.md).

A row whose year has no partition lands in the table's ``<table>_default`` partition, which
every query reads whatever its time window, and which stops a partition for that year from
being created while it holds such rows. So partitions are made ahead of time: the migration
makes two years ahead, and ``phananh db partitions`` (yearly, e.g. from cron) makes more,
through the SQL function ``add_yearly_partitions`` the migration defines.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text

PARTITIONED = ("complaint", "complaint_event")


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    bounds: str  # PostgreSQL's own words: FOR VALUES FROM (…) TO (…), or DEFAULT


def add_partitions(conn: Connection, years_ahead: int, now: datetime | None = None) -> list[str]:
    """Create the missing partitions from this year to ``years_ahead`` years on; their names."""
    year = (now or datetime.now(UTC)).astimezone(UTC).year
    return [name for table in PARTITIONED for name in conn.execute(
        text("SELECT add_yearly_partitions(:table, :first, :last)"),
        {"table": table, "first": year, "last": year + years_ahead}).scalars()]


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
    """Rows in no yearly partition, per table: each is read by every windowed query."""
    return {table: conn.execute(text(f"SELECT count(*) FROM {table}_default")).scalar_one()
            for table in PARTITIONED}
