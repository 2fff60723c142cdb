"""Yearly partitions of complaints (migration 0018): what a one-month window gains.

One database, one run: :data:`COMPLAINTS` complaints spread evenly over three years are
written (``INSERT … SELECT generate_series``, every trigger on) at the revision before
partitions; the month's listing, count and text search run through the real query code
(``db.complaints``; ``KEY_VIEW`` stands in for ``complaint_key``). Then the migration converts
the table in place (its time is printed), and the same queries run again on the same rows.
Answers are checked equal across the two; both arms run after VACUUM ANALYZE.

Database: ``<name>_partitions`` (dropped and made again each run).
"""

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from bench.common import bench_database, console, measure, print_table
from cli.main import alembic_config
from db import complaints
from db.complaints import ComplaintFilter, Order
from db.engine import make_engine

COMPLAINTS = 300_000
START, YEARS = datetime(2024, 1, 1, tzinfo=UTC), 3
MONTH = ComplaintFilter(created_from=datetime(2025, 6, 1, tzinfo=UTC),
                        created_to=datetime(2025, 7, 1, tzinfo=UTC))
WORDS = ("rác", "ngập", "đèn", "ồn", "cây", "nước", "đường", "bụi", "lấn chiếm", "xây dựng")
GENERATE = f"""
    INSERT INTO complaint (public_id, description, category_code, location, created_at)
    SELECT 'PB-' || i, (ARRAY{list(WORDS)})[1 + i % {len(WORDS)}] || ' số ' || i, 'other',
           ST_SetSRID(ST_MakePoint(105.75 + (i % 997) / 5000.0, 20.95 + (i % 991) / 5000.0),
                      4326),
           :start + (i::bigint * :span / :n) * interval '1 second'
    FROM generate_series(1, :n) AS i"""

# Before 0018 the query code read a duplicate's public id from complaint itself; this view
# gives the baseline that same query, inlined by the planner.
KEY_VIEW = "CREATE VIEW complaint_key AS SELECT id, created_at, public_id, idempotency_key " \
           "FROM complaint"


def queries() -> dict[str, Callable[[Connection], Any]]:
    search = ComplaintFilter(created_from=MONTH.created_from, created_to=MONTH.created_to,
                             text="ngập")
    return {
        "listing, first page": lambda conn: [r.id for r in complaints.fetch_page(
            conn, MONTH, Order.CREATED_AT, first=20, after=None).rows],
        "listing, page 50 (offset)": lambda conn: [r.id for r in complaints.fetch_offset(
            conn, MONTH, limit=20, offset=1000)],
        "count": lambda conn: complaints.count(conn, MONTH),
        "text search, count": lambda conn: complaints.count(conn, search),
    }


def run(engine: Engine, repeat: int) -> dict[str, tuple[float, Any]]:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))  # as autovacuum leaves a table that rests
    timed = {}
    for name, job in queries().items():
        def once(job: Callable[[Connection], Any] = job) -> Any:
            with engine.connect() as conn:
                return job(conn)
        timed[name] = (measure(once, repeat=repeat).median, once())
    return timed


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench partitions")
    parser.add_argument("--complaints", type=int, default=COMPLAINTS)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args(args or [])
    url = bench_database("partitions", fresh=True)
    before = ScriptDirectory.from_config(alembic_config(url)).get_revision(
        "0018_partitions").down_revision
    command.upgrade(alembic_config(url), before)
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text(GENERATE), {"start": START, "n": options.complaints,
                                          "span": YEARS * 365 * 86_400})
        console.print(f"{options.complaints:,} complaints over {YEARS} years written in "
                      f"{time.perf_counter() - started:.0f} s (unpartitioned)")
        with engine.begin() as conn:  # what the query code reads a duplicate's public id from
            conn.execute(text(KEY_VIEW))
        flat = run(engine, options.repeat)
        with engine.begin() as conn:
            conn.execute(text("DROP VIEW complaint_key"))
        started = time.perf_counter()
        command.upgrade(alembic_config(url), "0018_partitions")
        console.print(f"migration 0018 converted them in {time.perf_counter() - started:.1f} s")
        parted = run(engine, options.repeat)
    finally:
        engine.dispose()
    for name, (_, answer) in flat.items():
        assert parted[name][1] == answer, f"{name}: the answers differ"
    print_table(
        f"One month (June 2025) of {options.complaints:,} complaints over {YEARS} years, "
        "median ms",
        ["query", "unpartitioned", "yearly partitions", "ratio"],
        [(name, flat[name][0] * 1000, parted[name][0] * 1000, parted[name][0] / flat[name][0])
         for name in flat])
