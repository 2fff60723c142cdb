"""The rollups (migrations 0013 and 0017): what analyses gain, and what writes pay.

Reads, each analysis from the rollups against the same analysis over the complaints
(``rollups=False``), in the same run on the same database; the answers are checked equal
first:

* ``areaStats`` counts per ward over whole days (both generations);
* ``grid`` counts, 500 m hexagons and 1 km squares (standard grids);
* hot spots: Gi* over 800 m hexagons (2 km band), emerging hot spots per month over
  1,500 m hexagons (3.5 km band) and over wards (k = 5).

Writes: submissions through the real service (``workflow.submission.submit``, routing
included), one statement each, and first actions recorded on complaints that had none (a
duration written), with the rollup triggers on and, in the same run, off
(``analytics.rollups.set_triggers``); both arms run in a transaction that is rolled back, so
the database is left as it was and neither arm pays a commit, and the database is vacuumed
after each arm.

Bulk loads: the demo seed of :data:`SEEDED` complaints into an empty city (its own database,
``<name>_bench_rollups_seed``), loading with the rollup triggers off and rebuilding the rollups
once at the end (what ``phananh seed-demo`` does) against keeping the triggers on.

Database: ``<name>_bench_rollups``, seeded once with :data:`COMPLAINTS` complaints over three
years (its seed time is printed), then ``rebuild_rollups()`` timed on its own.
"""

import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, text

from analytics.areas import count_by_area
from analytics.grid import Shape, count_cells
from analytics.hotspots import Unit, Weights, space_time
from analytics.periods import CITY_TIME_ZONE, Calendar, Period
from analytics.rollups import rebuild, set_triggers
from bench.common import (
    YEARS,
    bench_engine,
    console,
    ensure_demo_data,
    measure,
    print_table,
)
from db.complaints import ComplaintFilter
from demo import seed as demo_seed
from demo.city import build_demo_city
from demo.complaints import generate_complaints
from settings import Settings
from workflow.states import OPEN, Actor, Status, sources
from workflow.submission import FootprintRules, Submission, submit

COMPLAINTS = 100_000
SUBMISSIONS = 200
SEEDED = 5_000
MAX_CELLS = 100_000


def filters(newest: datetime) -> dict[str, ComplaintFilter]:
    day = _midnight(newest)
    return {
        "all years": ComplaintFilter(),
        "last 365 days": ComplaintFilter(created_from=day - timedelta(days=364),
                                         created_to=day + timedelta(days=1)),
        "90 days, 2 categories, open": ComplaintFilter(
            created_from=day - timedelta(days=89), created_to=day + timedelta(days=1),
            categories=["environment.waste", "construction.illegal"],
            statuses=sorted(OPEN)),
    }


def _midnight(instant: datetime) -> datetime:
    return instant.astimezone(ZoneInfo(CITY_TIME_ZONE)).replace(hour=0, minute=0, second=0,
                                                                microsecond=0)


Job = Callable[[Connection, bool], Any]


def jobs(newest: datetime) -> dict[str, Job]:
    """Name: an analysis run with or without the rollups."""
    found: dict[str, Job] = {}
    for name, f in filters(newest).items():
        for generation in ("demo-2025", "demo-2019"):
            found[f"areaStats wards, {name}, {generation}"] = (
                lambda conn, rollups, f=f, g=generation:
                count_by_area(conn, f, "ward", g, rollups=rollups))
        for shape, size in ((Shape.HEXAGON, 500.0), (Shape.SQUARE, 1000.0)):
            found[f"grid {shape.value.lower()} {size:.0f} m, {name}"] = (
                lambda conn, rollups, f=f, shape=shape, size=size:
                count_cells(conn, f, shape, size, None, MAX_CELLS, rollups=rollups))
    everything = ComplaintFilter()
    found["hotspots 800 m hexagons, 2 km band, all years"] = (
        lambda conn, rollups: space_time(conn, everything, Unit.GRID, Weights(band_m=2_000.0),
                                         None, False, Shape.HEXAGON, 800.0, rollups=rollups))
    day = _midnight(newest)
    months = Calendar(Period.MONTH, day - timedelta(days=364), day + timedelta(days=1))
    year = ComplaintFilter(created_from=months.start, created_to=months.end)
    found["emerging per month, 1,500 m hexagons, 365 days"] = (
        lambda conn, rollups: space_time(conn, year, Unit.GRID, Weights(band_m=3_500.0),
                                         months, False, Shape.HEXAGON, 1500.0, rollups=rollups))
    found["emerging per month, wards k=5, 365 days"] = (
        lambda conn, rollups: space_time(conn, year, Unit.WARD, Weights(k=5), months, False,
                                         rollups=rollups))
    return found


def reads(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        newest = conn.execute(text("SELECT max(created_at) FROM complaint")).scalar_one()
    found = []
    for name, job in jobs(newest).items():
        def run(rollups: bool, job: Job = job) -> Any:
            with engine.connect() as conn:
                return job(conn, rollups)

        assert run(True) == run(False), name
        raw, rolled = measure(lambda: run(False), repeat=3), measure(lambda: run(True))
        found.append((name, raw.median, rolled.median, raw.median / rolled.median))
    return found


# Updates measured beside submissions: (name, which complaints it may write, the write of
# one complaint :id, the parameters of both). A first action writes a duration, so every
# rollup of durations moves; a work start changes the status of a complaint that has a first
# action, so every rollup of statuses moves and those of durations keep their rows; a
# resolution changes both.
UPDATES: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("first action", "first_action_at IS NULL",
     "UPDATE complaint SET first_action_at = created_at + interval '5 h' WHERE id = :id", {}),
    ("work start", "status = ANY(:startable) AND first_action_at IS NOT NULL",
     "UPDATE complaint SET status = :started WHERE id = :id",
     {"startable": [s.value for s in sources(Status.IN_PROGRESS, Actor.OFFICIAL)],
      "started": Status.IN_PROGRESS.value}),
    ("resolution", "status = ANY(:resolvable) AND first_action_at IS NOT NULL",
     "UPDATE complaint SET status = :resolved, resolved_at = first_action_at + interval '1 day' "
     "WHERE id = :id",
     {"resolvable": [s.value for s in sources(Status.RESOLVED, Actor.OFFICIAL)],
      "resolved": Status.RESOLVED.value}),
)


# What the write tables' titles name: "first actions, work starts and resolutions".
UPDATED = " and ".join((", ".join(f"{u[0]}s" for u in UPDATES[:-1]), f"{UPDATES[-1][0]}s"))


def writes(engine: Engine, at: tuple[float, float] = (105.70, 21.03),
           step: float = 0.001) -> list[tuple[Any, ...]]:
    """One submission's time with the rollup triggers off and on, the n-th submission at
    ``at`` moved ``n * step`` degrees east; and each of :data:`UPDATES`', on up to as many
    complaints it may write. All are rolled back, so the constraint triggers that run at
    commit (0027: the rollups and the data versions) are made to run at the end of each
    statement instead (not the foreign keys, which the submission's own statement triggers
    satisfy only after its rows are written)."""

    def submission(conn: Connection, n: int) -> None:
        submit(conn, Submission(category_code="environment.waste", description=f"bench {n}",
                                lon=at[0] + n * step, lat=at[1]), FootprintRules.of(Settings()))

    def update(statement: str, ids: list[int], params: dict[str, Any]
               ) -> Callable[[Connection, int], None]:
        def write(conn: Connection, n: int) -> None:
            conn.execute(text(statement), {**params, "id": ids[n]})
        return write

    def arm(write: Callable[[Connection, int], None], count: int, triggers: bool) -> float:
        with engine.connect() as conn, conn.begin() as transaction:
            _deferred_triggers_at_each_statement(conn)
            if not triggers:
                set_triggers(conn, False)
            start = time.perf_counter()
            for n in range(count):
                write(conn, n)
            seconds = time.perf_counter() - start
            transaction.rollback()
        _vacuumed(engine)
        return seconds / count

    written = [("submission", submission, SUBMISSIONS)]
    with engine.connect() as conn:
        for name, which, statement, params in UPDATES:
            ids = list(conn.execute(text(f"SELECT id FROM complaint WHERE {which} "
                                         "ORDER BY id DESC LIMIT :n"),
                                    {"n": SUBMISSIONS, **params}).scalars())
            written.append((name, update(statement, ids, params), len(ids)))
    found = []
    for name, write, count in written:
        if not count:  # a database where no complaint is left to write so
            continue
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(3):
            for triggers in (False, True):
                times[triggers].append(arm(write, count, triggers))
        off, on = min(times[False]), min(times[True])
        found += [(f"one {name} (ms)", 1000 * off, 1000 * on, on / off),
                  (f"{name}s per second", 1 / off, 1 / on, off / on)]
    return found


def _vacuumed(engine: Engine) -> None:
    """The dead rows an arm's rolled-back writes left behind taken away, so that they do not
    slow the arms after it (only the rollups' arms write the rollups: their dead rows slowed
    every later arm with the rollups on). VACUUM reads only the pages not all-visible, and
    skips the indexes when so few pages hold dead rows."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM"))


def _deferred_triggers_at_each_statement(conn: Connection) -> None:
    """The deferred constraint triggers (0027: the rollups and the data versions) made to run
    at the end of each statement of the caller's transaction, not at its commit."""
    conn.exec_driver_sql(conn.execute(text(
        "SELECT 'SET CONSTRAINTS ' || string_agg(DISTINCT quote_ident(conname), ', ') "
        "|| ' IMMEDIATE' FROM pg_constraint WHERE contype = 't' AND condeferrable"
    )).scalar_one())


TRIGGER_LINE = re.compile(r"\s*Trigger (?:for constraint )?(\S+)(?: on \S+)?: time=([\d.]+)")
EXECUTION_LINE = re.compile(r"Execution Time: ([\d.]+)")
EXECUTION = "(the whole update)"


def trigger_times(engine: Engine, count: int = 100, warm: int = 10) -> list[tuple[Any, ...]]:
    """Each trigger's time in each kind of update of :data:`UPDATES`: which rollups a write
    pays for, and how much. Rows (trigger, ms a write per kind, "–" where it did not fire),
    the whole update first, then the dearest: the mean of ``count`` updates after ``warm`` on
    the same connection (so that the triggers' plans are cached, as on a long-lived one),
    each from the trigger lines of its ``EXPLAIN (ANALYZE)``, the rollups' triggers run at each
    statement in a transaction rolled back. The whole update's time includes the
    instrumentation's own cost."""
    found: dict[str, dict[str, float]] = defaultdict(dict)
    for name, which, statement, params in UPDATES:
        with engine.connect() as conn, conn.begin() as transaction:
            _deferred_triggers_at_each_statement(conn)
            ids = conn.execute(text(f"SELECT id FROM complaint WHERE {which} "
                                    "ORDER BY id DESC LIMIT :n"),
                               {"n": count + warm, **params}).scalars().all()
            summed: Counter[str] = Counter()
            for n, complaint_id in enumerate(ids):
                plan = conn.execute(text(f"EXPLAIN (ANALYZE) {statement}"),
                                    {**params, "id": complaint_id}).scalars().all()
                if n >= warm:
                    summed.update(_timed(plan))
            transaction.rollback()
        for what, ms in summed.items():
            found[what][name] = ms / (len(ids) - warm)
    dearest = sorted(found, key=lambda what: (what != EXECUTION, -max(found[what].values())))
    return [(what, *(found[what].get(name, "–") for name, *_ in UPDATES)) for what in dearest]


def _timed(plan: Sequence[str]) -> Counter[str]:
    """ms per trigger (named by its table, less ``complaint_``), and the whole statement's
    under :data:`EXECUTION`, of one plan."""
    times: Counter[str] = Counter()
    for line in plan:
        if trigger := TRIGGER_LINE.match(line):  # complaint_<table>_update: <table>
            times[trigger.group(1).removeprefix("complaint_").removesuffix("_update")] += (
                float(trigger.group(2)))
        elif execution := EXECUTION_LINE.match(line):
            times[EXECUTION] += float(execution.group(1))
    return times


def seeding(engine: Engine) -> list[tuple[Any, ...]]:
    """The demo seed of :data:`SEEDED` complaints into an empty city, the rollup triggers on
    (recounting statement by statement) and off (one rebuild at the end), alternately."""
    generations = build_demo_city()
    with engine.connect() as conn:
        has_city = conn.execute(text("SELECT EXISTS (SELECT 1 FROM admin_area)")).scalar_one()
    if not has_city:
        demo_seed.seed_boundaries(engine, generations)
        demo_seed.seed_organisation(engine, generations)
    outline = next(a.geometry for a in generations[-1].areas if a.level == "city")
    arms: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(2):
        for paused in (True, False):
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE complaint_event, complaint CASCADE"))
            stream = generate_complaints(SEEDED, outline, now=datetime.now(UTC), years=YEARS)
            start = time.perf_counter()
            demo_seed.seed_complaints(engine, stream, SEEDED, pause_rollups=paused)
            arms[paused].append(time.perf_counter() - start)
    on, off = min(arms[False]), min(arms[True])
    return [(f"seed {SEEDED:,} complaints (s)", off, on, on / off)]


def rebuild_seconds(engine: Engine) -> float:
    """One ``rebuild_rollups()`` over the whole database, rolled back."""
    with engine.connect() as conn, conn.begin() as transaction:
        start = time.perf_counter()
        rebuild(conn)
        seconds = time.perf_counter() - start
        transaction.rollback()
    return seconds


def main() -> None:
    engine = bench_engine("bench_rollups")
    ensure_demo_data(engine, COMPLAINTS)
    with engine.connect() as conn:
        sizes = conn.execute(text("""
            SELECT (SELECT count(*) FROM complaint_rollup),
                   pg_size_pretty(pg_total_relation_size('complaint_rollup')),
                   (SELECT count(*) FROM complaint_grid_rollup),
                   pg_size_pretty(pg_total_relation_size('complaint_grid_rollup')),
                   (SELECT count(*) FROM grid_rollup_size)""")).one()
    console.print(f"{COMPLAINTS:,} complaints; complaint_rollup: {sizes[0]:,} rows, {sizes[1]}; "
                  f"complaint_grid_rollup ({sizes[4]} standard grids): {sizes[2]:,} rows, "
                  f"{sizes[3]}; rebuild_rollups(): {rebuild_seconds(engine):.1f} s")
    print_table(f"Analyses over whole days, {COMPLAINTS:,} complaints (median s)",
                ["analysis, filter", "complaints", "rollup", "complaints/rollup"],
                reads(engine))
    print_table(f"Writes: {SUBMISSIONS} submissions through the service and up to as many "
                f"{UPDATED}, triggers off and on",
                ["write", "rollups off", "rollups on", "on/off (cost)"], writes(engine))
    print_table("Bulk load: the seed with the rollup triggers paused (one rebuild) and on",
                ["load", "paused + rebuild", "triggers on", "on/paused"],
                seeding(bench_engine("bench_rollups_seed")))
