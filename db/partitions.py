"""The yearly partitions of ``complaint`` (migration 0018, docs/partitions.md).

A complaint whose year has no partition lands in ``complaint_default``, which every query
reads whatever its time window, and which stops a partition for that year from being created
while it holds such rows. So partitions are made ahead of time: the migration makes two years
ahead, and ``phananh db partitions`` (yearly, e.g. from cron) makes more, through the SQL
function ``complaint_add_partitions`` the migration defines.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class Partition:
    name: str
    bounds: str  # PostgreSQL's own words: FOR VALUES FROM (…) TO (…), or DEFAULT


def add_partitions(conn: Connection, years_ahead: int, now: datetime | None = None) -> list[str]:
    """Create the missing partitions from this year to ``years_ahead`` years on; their names."""
    year = (now or datetime.now(UTC)).astimezone(UTC).year
    return list(conn.execute(text("SELECT complaint_add_partitions(:first, :last)"),
                             {"first": year, "last": year + years_ahead}).scalars())


def partitions(conn: Connection) -> list[Partition]:
    """Every partition of ``complaint``, in the order of their bounds (the default last)."""
    return [Partition(*row) for row in conn.execute(text("""
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'complaint'::regclass
        ORDER BY c.relname = 'complaint_default', c.relname"""))]


def default_rows(conn: Connection) -> int:
    """Complaints in no yearly partition: each is read by every windowed query."""
    return conn.execute(text("SELECT count(*) FROM complaint_default")).scalar_one()
