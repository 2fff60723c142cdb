"""The daily rollups (migration 0013): what choropleths gain, and what writes pay.

Reads: ``areaStats`` counts per ward over whole days, from the rollup against the same
analysis over the complaints (``count_by_area(..., rollups=False)``), in the same run on the
same database; the answers are checked equal first.

Writes: submissions through the real service (``workflow.submission.submit``, routing
included), one statement each, with the rollup triggers on and, in the same run, off
(``ALTER TABLE … DISABLE TRIGGER``); both arms run in a transaction that is rolled back, so the
database is left as it was and neither arm pays a commit.

Database: ``<name>_bench_rollups``, seeded once with :data:`COMPLAINTS` complaints over three
years (its seed time, with the triggers on, is printed).
"""

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, text

from analytics.areas import count_by_area
from analytics.periods import CITY_TIME_ZONE
from bench.common import bench_engine, console, ensure_demo_data, measure, print_table
from db.complaints import ComplaintFilter
from settings import Settings
from workflow.states import OPEN
from workflow.submission import FootprintRules, Submission, submit

COMPLAINTS = 100_000
SUBMISSIONS = 200
ROLLUP_TRIGGERS = {"complaint": ("complaint_rollup_insert", "complaint_rollup_update",
                                 "complaint_rollup_delete"),
                   "complaint_area": ("complaint_rollup_place", "complaint_rollup_unplace")}


def filters(newest: datetime) -> dict[str, ComplaintFilter]:
    day = newest.astimezone(ZoneInfo(CITY_TIME_ZONE)).replace(hour=0, minute=0, second=0,
                                                               microsecond=0)
    return {
        "all years": ComplaintFilter(),
        "last 365 days": ComplaintFilter(created_from=day - timedelta(days=364),
                                         created_to=day + timedelta(days=1)),
        "90 days, 2 categories, open": ComplaintFilter(
            created_from=day - timedelta(days=89), created_to=day + timedelta(days=1),
            categories=["environment.waste", "construction.illegal"],
            statuses=sorted(OPEN)),
    }


def reads(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        newest = conn.execute(text("SELECT max(created_at) FROM complaint")).scalar_one()
    found = []
    for name, f in filters(newest).items():
        for generation in ("demo-2025", "demo-2019"):
            def job(rollups: bool, f: ComplaintFilter = f, g: str = generation) -> Any:
                with engine.connect() as conn:
                    return count_by_area(conn, f, "ward", g, rollups=rollups)

            assert job(True) == job(False), (name, generation)
            raw, rolled = measure(lambda: job(False), repeat=3), measure(lambda: job(True))
            found.append((f"{name}, {generation}", raw.median, rolled.median,
                          raw.median / rolled.median))
    return found


def writes(engine: Engine, at: tuple[float, float] = (105.70, 21.03),
           step: float = 0.001) -> list[tuple[Any, ...]]:
    """One submission's time with the rollup triggers off and on; the n-th submission at
    ``at`` moved ``n * step`` degrees east."""
    def arm(triggers: bool) -> float:
        with engine.connect() as conn, conn.begin() as transaction:
            if not triggers:
                _set_triggers(conn, "DISABLE")
            start = time.perf_counter()
            for n in range(SUBMISSIONS):
                submit(conn, Submission(category_code="environment.waste",
                                        description=f"bench {n}", lon=at[0] + n * step,
                                        lat=at[1]), FootprintRules.of(Settings()))
            seconds = time.perf_counter() - start
            transaction.rollback()
        return seconds / SUBMISSIONS

    arms: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(3):
        for triggers in (False, True):
            arms[triggers].append(arm(triggers))
    off, on = min(arms[False]), min(arms[True])
    return [("one submission (ms)", 1000 * off, 1000 * on, on / off)]


def _set_triggers(conn: Connection, action: str) -> None:
    for table, names in ROLLUP_TRIGGERS.items():
        for name in names:
            conn.execute(text(f"ALTER TABLE {table} {action} TRIGGER {name}"))


def main() -> None:
    engine = bench_engine("bench_rollups")
    ensure_demo_data(engine, COMPLAINTS)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM complaint_rollup")).scalar_one()
        size = conn.execute(text(
            "SELECT pg_size_pretty(pg_total_relation_size('complaint_rollup'))")).scalar_one()
    console.print(f"{COMPLAINTS:,} complaints; complaint_rollup: {rows:,} rows, {size}")
    print_table(f"areaStats wards over whole days, {COMPLAINTS:,} complaints (median s)",
                ["filter, generation", "complaints", "rollup", "complaints/rollup"],
                reads(engine))
    print_table(f"Writes: {SUBMISSIONS} submissions through the service, triggers off and on",
                ["write", "rollup off", "rollup on", "on/off"], writes(engine))
