"""A national data set (issue 16): build time, disk, every analytics job with and without the
rollups, the province simulation of the Citus plan, and writes with the rollups on and off.

``python -m bench scale --complaints 1000000,10000000 [--workers 2]``

For each size, in a database of its own, ``<name>_bench_scale_<size>`` (built once, kept: a
run after a code change reuses it):

* **Build**: ``demo.nation.seed_nation`` (34 grid provinces; complaints drawn by
  ``INSERT … SELECT generate_series`` in chunks on ``--workers`` connections, placed, routed
  and dated by the database's own rules, with the rollup triggers off and the secondary
  indexes dropped; then the indexes built, the rollups counted, ``VACUUM ANALYZE``), its
  seconds per step, and each table's ``pg_total_relation_size``. A build that was stopped
  is resumed by the next run.
* **Analytics**: the jobs of ``bench analytics`` (``bench.analytics.job_list``) through GraphQL
  in process, with the rollups and with them bypassed (``analytics.rollups.bypassed``), against
  the issue's goal of 1 s; and, with two sizes or more, each job's growth from the smallest
  to the largest (goal: under 2×).
* **Stats workers**: the statistics' jobs through two apps over one engine, with
  ``PHANANH_STATS_PARALLEL_WORKERS`` at PostgreSQL's default of 2 and at the service's 0,
  alternated round by round (``--parts=stats-workers``; not in the default parts).
* **Snapshots**: the same jobs with their durations (in total, per category, district and
  ward), and the clusters' job with its clusters, read for each request against taken from
  a snapshot (``analytics/snapshots.py``), alternated, and the refresh's seconds per
  snapshot after a write (``--parts=snapshots``; not in the default parts).
* **Provinces**: a copy of the complaints, LIST-partitioned by province (what a Citus worker
  holds, on one node); a listing page, statistics and a grid for one province against the
  whole country, on the copy and on ``complaint``.
* **Writes**: ``bench.rollups.writes`` in the busiest province: one submission through the
  service with the rollup triggers off and on.
* **Triggers**: ``bench.rollups.trigger_times``, each trigger's time in each kind of update
  (``--parts=triggers``; not in the default parts).
* **Replica**: tiles and listing pages from a streaming replica against the primary alone
  (``bench.replica``: a throwaway cluster and its replica, with a nation of
  ``--replica-complaints``).

``--parts`` chooses what is measured after building (all by default): rerunning one part
after a code change reuses the built databases.
"""

import argparse
import contextlib
import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, event, text
from starlette.testclient import TestClient

from analytics import rollups, snapshots
from app import create_app
from bench.analytics import Api, job_list, prepare
from bench.common import Timing, bench_database, bench_settings, console, measure, print_table
from bench.replica import measure_replica
from bench.rollups import SUBMISSIONS, UPDATED, UPDATES, trigger_times, writes
from cli.main import alembic_config
from db.engine import make_engine
from demo import seed as demo_seed
from demo.nation import (
    GENERATION,
    PROVINCE_DEG,
    SOUTH,
    WEST,
    Build,
    finish,
    load,
    migrate,
    province_code,
    seed_nation,
    stopped_load,
    unfinished,
)
from settings import Settings

PARTS = ("analytics", "provinces", "writes", "replica")
OPTIONAL_PARTS = ("stats-workers", "snapshots", "triggers")
STATS_JOBS = ("stats year", "stats year + breakdowns", "stats all years + breakdowns")
# The jobs whose dearest part a snapshot may answer (``analytics/snapshots.py``).
SNAPSHOT_JOBS = (*STATS_JOBS, "clusters 90 days")
WORKER_ROUNDS = 5
GOAL_S = 1.0
GROWTH_GOAL = 2.0
TABLES = ("complaint", "complaint_event", "complaint_area", "complaint_rollup",
          "complaint_month_rollup", "complaint_grid_rollup", "complaint_grid_month_rollup",
          "complaint_kpi_rollup", "complaint_duration_rollup", "complaint_duration_fine_rollup",
          "complaint_area_kpi_rollup", "complaint_due_rollup", "complaint_area_duration_values",
          "complaint_area_kpi_month_rollup", "admin_area", "admin_area_part",
          "scale_by_province")
# A table's size with its indexes and TOAST, summed over its partitions when it has them.
SIZE = """SELECT coalesce((SELECT sum(pg_total_relation_size(relid))
                          FROM pg_partition_tree(CAST(:t AS regclass))
                          WHERE isleaf),
                         pg_total_relation_size(CAST(:t AS regclass))) AS n"""

# The complaints as a Citus worker would hold them, on one node: a partition per province.
PARTITIONED = """
    CREATE TABLE scale_by_province (
        province_id integer NOT NULL, id bigint NOT NULL, public_id text NOT NULL,
        created_at timestamptz NOT NULL, category_code text NOT NULL, status text NOT NULL,
        ward_id integer, utm_x double precision, utm_y double precision
    ) PARTITION BY LIST (province_id)"""
PARTITION_INDEXES = (
    "CREATE INDEX ON scale_by_province (created_at DESC, id DESC)",
    "CREATE INDEX ON scale_by_province (created_at) INCLUDE (category_code, status, utm_x, "
    "utm_y)",
)
# The same three questions, of a table {table}, for one province ({province}: a condition).
LISTING = """SELECT id, public_id, created_at, status, category_code FROM {table}
             WHERE {province} ORDER BY created_at DESC, id DESC LIMIT 50 OFFSET 1000"""
STATISTICS = """SELECT category_code, status, count(*) FROM {table}
                WHERE {province} AND created_at >= :since GROUP BY 1, 2"""
GRID = """SELECT floor(utm_x / 500), floor(utm_y / 500), count(*) FROM {table}
          WHERE {province} AND created_at >= :since GROUP BY 1, 2"""


def build(engine: Engine, complaints: int, workers: int) -> Build | None:
    """The nation with ``complaints`` complaints, and what building it took (None: it was
    already there, kept). A build that was stopped is resumed, the steps done before counted
    0 s: the chunks of complaints not yet written, then the steps after the load."""
    with engine.connect() as conn:
        found = conn.execute(text(
            "SELECT count(*) FROM complaint WHERE EXISTS "
            "(SELECT 1 FROM boundary_generation WHERE name = :name)"), {"name": GENERATION}
        ).scalar_one()
    if stopped_load(engine) == complaints:
        console.print(f"Resuming the stopped load of {complaints:,} complaints…")
        start = time.perf_counter()
        return Build(0.0, load(engine, workers, _progress(start)), *finish(engine, workers))
    if found == complaints and unfinished(engine):
        console.print(f"Finishing the nation with {complaints:,} complaints (a build stopped "
                      "after its load)…")
        return Build(0.0, 0.0, *finish(engine, workers))
    if found == complaints:
        console.print(f"The nation with {complaints:,} complaints is already built.")
        return None
    console.print(f"Building the nation with {complaints:,} complaints on {workers} "
                  "connections…")
    demo_seed.reset(engine)
    start = time.perf_counter()
    return seed_nation(engine, complaints, workers=workers, on_progress=_progress(start))


def nice_backends(engine: Engine) -> None:
    """Each server process of ``engine`` as nice as this one (``nice -n 19 python -m bench
    scale``: the build takes only idle CPU, beside latency benchmarks), where allowed (the
    server on this machine, run as root or as the server's user)."""
    niceness = os.getpriority(os.PRIO_PROCESS, 0)

    def renice(dbapi_connection: Any, _: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid, = cursor.fetchone()
        with contextlib.suppress(OSError):  # another host, or another user's process
            os.setpriority(os.PRIO_PROCESS, pid, niceness)

    event.listen(engine, "connect", renice)


def _progress(start: float) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        if done == total or done % 500_000 == 0:
            console.print(f"  {done:,}/{total:,} complaints, {time.perf_counter() - start:.0f} s")
    return report


def partition_by_province(engine: Engine) -> float:
    """The LIST-partitioned copy, rebuilt; its seconds."""
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS scale_by_province"))
        conn.execute(text(PARTITIONED))
        for province_id, in conn.execute(text(
                "SELECT id FROM admin_area WHERE level = 'city' ORDER BY id")).all():
            conn.execute(text(f"CREATE TABLE scale_by_province_{province_id} PARTITION OF "
                              f"scale_by_province FOR VALUES IN ({province_id})"))
        conn.execute(text("""
            INSERT INTO scale_by_province
            SELECT city_id, id, public_id, created_at, category_code, status, ward_id, utm_x,
                   utm_y
            FROM complaint WHERE city_id IS NOT NULL"""))
        for statement in PARTITION_INDEXES:
            conn.execute(text(statement))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE scale_by_province"))
    return time.perf_counter() - start


def sizes(engine: Engine) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        found = [(table, *conn.execute(text(f"SELECT pg_size_pretty(n), n FROM ({SIZE}) AS s"),
                                        {"t": table}).one())
            for table in TABLES if conn.execute(text("SELECT to_regclass(:t)"),
                                                {"t": table}).scalar() is not None]
        database = conn.execute(text(
            "SELECT pg_size_pretty(pg_database_size(current_database())), "
            "pg_database_size(current_database())")).one()
    return [*found, ("database", *database)]


def suffix(complaints: int) -> str:
    """The database suffix of one size: one database per size, so that no size rebuilds
    another's (the 1M nation takes minutes to build)."""
    return f"bench_scale_{complaints}"


def _migrated(engine: Engine, complaints: int) -> Settings:
    """The settings of the nation's database, migrated to the head, and ``engine`` with none
    of the connections it opened before: a connection keeps the index expressions it has read
    (SQL functions inlined) when a migration replaces a function, and no index on it would
    match its plans (migration 0039)."""
    settings = bench_settings(suffix(complaints))
    engine.dispose()
    return settings


def analytics(engine: Engine, complaints: int) -> dict[str, dict[str, Timing]]:
    """Each job through the API, with the rollups and bypassed."""
    settings = _migrated(engine, complaints)
    prepare(engine)
    with TestClient(create_app(settings, engine)) as client:
        jobs = job_list(Api(client), engine)
        console.print(f"Analytics on {complaints:,} complaints…")
        found: dict[str, dict[str, Timing]] = {}
        for name, (api_job, _, _) in jobs.items():
            with rollups.bypassed():
                raw = measure(api_job, repeat=2)
            found[name] = {"rollups": measure(api_job, repeat=2), "raw": raw}
    return found


def stats_workers(engine: Engine, complaints: int) -> list[tuple[Any, ...]]:
    """The statistics' jobs with 2 parallel workers per statement against 0."""
    medians = _alternated(engine, complaints, STATS_JOBS, {2: {"stats_parallel_workers": 2},
                                                           0: {"stats_parallel_workers": 0}})
    return [(name, medians[name, 2], medians[name, 0], medians[name, 0] / medians[name, 2])
            for name in STATS_JOBS]


def stats_snapshots(engine: Engine, complaints: int) -> tuple[list[tuple[Any, ...]],
                                                              list[tuple[Any, ...]]]:
    """The statistics' jobs with their durations, and the clusters' job with its clusters,
    read for each request against taken from the snapshots (kept by a first request,
    ``analytics/snapshots.py``); and what reading each snapshot again costs the refresh after
    a write."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM stats_snapshot"))
    medians = _alternated(engine, complaints, SNAPSHOT_JOBS, {
        "read": {}, "snapshot": {"stats_snapshot_max_age_seconds": 3600}})
    timed = [(name, medians[name, "read"], medians[name, "snapshot"],
              medians[name, "read"] / medians[name, "snapshot"],
              "met" if medians[name, "snapshot"] <= GOAL_S else "not met")
             for name in SNAPSHOT_JOBS]
    with engine.begin() as conn:  # a write: every snapshot is behind
        conn.execute(text("UPDATE complaint SET description = description "
                          "WHERE id = (SELECT min(id) FROM complaint)"))
    refreshed = [(one.what, one.seconds)
                 for one in snapshots.refresh(engine, timedelta(days=1))]
    return timed, refreshed


def _alternated(engine: Engine, complaints: int, names: tuple[str, ...],
                arms: dict[Any, dict[str, Any]]) -> dict[tuple[str, Any], float]:
    """The median seconds of each job of ``names`` through one app per arm (its settings
    changed by ``arms[arm]``), over one engine, the arms taking turns going first; each
    job's answers are checked equal across the arms first."""
    settings = _migrated(engine, complaints)
    prepare(engine)
    samples: dict[tuple[str, Any], list[float]] = {(n, a): [] for n in names for a in arms}
    with contextlib.ExitStack() as stack:
        jobs = {arm: job_list(Api(stack.enter_context(TestClient(create_app(
            settings.model_copy(update=changed), engine)))), engine)
            for arm, changed in arms.items()}
        for name in names:
            answers = [_without_times(jobs[arm][name][0]()) for arm in arms]
            if any(answer != answers[0] for answer in answers):
                raise AssertionError(f"{name}: the arms answer differently")
        order = list(arms)
        for round_ in range(WORKER_ROUNDS):
            for name in names:
                for arm in (order if round_ % 2 == 0 else order[::-1]):
                    samples[name, arm] += measure(jobs[arm][name][0], repeat=1).samples
    return {key: Timing(found).median for key, found in samples.items()}


def _without_times(answer: Any) -> Any:
    """An answer less the instants it was computed at."""
    if isinstance(answer, dict):
        return {k: _without_times(v) for k, v in answer.items()
                if k not in ("asOf", "durationsAsOf", "areaDurationsAsOf")}
    if isinstance(answer, list):
        return [_without_times(v) for v in answer]
    return answer


def provinces(engine: Engine) -> list[tuple[Any, ...]]:
    """A province's listing page, statistics and grid against the country's: on the
    partitioned copy (the province pruned to its partition) and on ``complaint``."""
    with engine.connect() as conn:
        busiest, median = conn.execute(text("""
            WITH n AS (SELECT city_id, count(*) AS n FROM complaint GROUP BY city_id)
            SELECT (SELECT city_id FROM n ORDER BY n DESC LIMIT 1),
                   (SELECT city_id FROM n ORDER BY n OFFSET (SELECT count(*) / 2 FROM n)
                    LIMIT 1)""")).one()
        since = conn.execute(text(
            "SELECT max(created_at) - interval '365 days' FROM complaint")).scalar_one()
    found = []
    for name, sql in (("listing page (offset 1,000)", LISTING), ("statistics, a year", STATISTICS),
                      ("500 m grid, a year", GRID)):
        def job(table: str, province: str, value: int | None, q: str = sql) -> Callable[[], Any]:
            statement = text(q.format(table=table, province=province))
            params = {"since": since, "province": value}

            def run() -> Any:
                with engine.connect() as conn:
                    _serial(conn)
                    return conn.execute(statement, params).all()
            return run

        country = measure(job("scale_by_province", "true", None), repeat=3)
        big = measure(job("scale_by_province", "province_id = :province", busiest), repeat=3)
        small = measure(job("scale_by_province", "province_id = :province", median), repeat=3)
        unpartitioned = measure(job("complaint", "city_id = :province", busiest), repeat=3)
        found.append((name, country.median, big.median, small.median, unpartitioned.median,
                      country.median / big.median, country.median / small.median))
    return found


def _serial(conn: Connection) -> None:
    """One core per query, as one Citus worker's share of the work would get."""
    conn.execute(text("SET max_parallel_workers_per_gather = 0"))


def main(options: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench scale")
    parser.add_argument("--complaints", default="1000000,10000000",
                        help="sizes, comma-separated (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2,
                        help="connections generating complaints (default: %(default)s)")
    parser.add_argument("--replica-complaints", type=int, default=100_000,
                        help="the nation built in the throwaway primary that the replica "
                             "copies (default: %(default)s)")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help="what to measure after building, comma-separated "
                             "(default: %(default)s)")
    args = parser.parse_args(options or [])
    counts = sorted(int(n) for n in args.complaints.split(","))
    parts = set(args.parts.split(",")) - {""}
    if parts - set(PARTS) - set(OPTIONAL_PARTS):
        parser.error(f"--parts: choose among {', '.join(PARTS + OPTIONAL_PARTS)}")
    results: dict[int, dict[str, dict[str, Timing]]] = {}
    kept: dict[int, dict[str, float]] = {}  # the snapshot arm's medians per size
    for complaints in counts:
        url = Settings(database_url=bench_database(suffix(complaints))).sqlalchemy_url
        engine = make_engine(url)
        nice_backends(engine)
        migrate(engine, args.workers, alembic_config(url))  # a stopped build's indexes first
        built = build(engine, complaints, args.workers)
        steps = ([("boundaries and catalogue", built.boundaries_s),
                  ("complaints (drawn, placed, routed, dated, histories)", built.complaints_s),
                  ("secondary indexes built", built.indexes_s),
                  ("rollups rebuilt", built.rollups_s),
                  ("VACUUM ANALYZE", built.vacuum_s)] if built else [("(reused)", 0.0)])
        print_table(f"Build, {complaints:,} complaints (s)", ["step", "seconds"], steps)
        print_table(f"Disk, {complaints:,} complaints (pg_total_relation_size)",
                    ["table", "size", "bytes"], sizes(engine))
        if "analytics" in parts:
            results[complaints] = analytics(engine, complaints)
            print_table(
                f"Analytics, {complaints:,} complaints (API, median s; goal ≤ {GOAL_S:g} s)",
                ["job", "rollups", "raw", "raw/rollups", "goal"],
                [(name, t["rollups"].median, t["raw"].median,
                  t["raw"].median / t["rollups"].median,
                  "met" if t["rollups"].median <= GOAL_S else "not met")
                 for name, t in results[complaints].items()])
        if "stats-workers" in parts:
            print_table(f"Statistics, {complaints:,} complaints: parallel workers per "
                        f"statement (API, median s of {WORKER_ROUNDS}, alternated)",
                        ["job", "2 (PostgreSQL's default)", "0 (phananh's)", "0/2"],
                        stats_workers(engine, complaints))
        if "snapshots" in parts:
            timed, refreshed = stats_snapshots(engine, complaints)
            kept[complaints] = {name: snapshot for name, _, snapshot, *_ in timed}
            print_table(f"Statistics and clusters, {complaints:,} complaints: the "
                        "durations and the clusters read for each request against from a "
                        "snapshot (API, "
                        f"median s of {WORKER_ROUNDS}, alternated; goal ≤ {GOAL_S:g} s)",
                        ["job", "read", "snapshot", "read/snapshot", "goal"], timed)
            print_table(f"Snapshots refreshed after a write, {complaints:,} complaints",
                        ["snapshot", "seconds"], refreshed)
        if "provinces" in parts:
            console.print("Copy partitioned by province, indexed: "
                          f"{partition_by_province(engine):.0f} s")
            print_table(f"Provinces, {complaints:,} complaints (median s, one core per query)",
                        ["query", "country", "busiest province", "median province",
                         "busiest, unpartitioned", "country/busiest", "country/median"],
                        provinces(engine))
        if "writes" in parts:
            centre = WEST + PROVINCE_DEG / 4, SOUTH + PROVINCE_DEG / 2
            print_table(f"Writes in {province_code(0)}, {complaints:,} complaints: "
                        f"{SUBMISSIONS} submissions through the service, up to "
                        f"{SUBMISSIONS} {UPDATED}",
                        ["write", "rollup off", "rollup on", "on/off"],
                        writes(engine, centre, PROVINCE_DEG / 400))
        if "triggers" in parts:
            print_table(f"Triggers of each update, {complaints:,} complaints (ms a write, "
                        "EXPLAIN ANALYZE, mean of 100)",
                        ["trigger", *(name for name, *_ in UPDATES)], trigger_times(engine))
        engine.dispose()
    if "replica" in parts:
        print_table(f"Tiles and listings, {args.replica_complaints:,} complaints: primary "
                    "alone against a streaming replica (ms)",
                    ["requests", "n", "primary median", "replica median", "replica/primary",
                     "primary p95", "replica p95"],
                    measure_replica(args.replica_complaints, args.workers))
    if len(kept) > 1:
        small, big = kept[counts[0]], kept[counts[-1]]
        print_table(f"Growth {counts[0]:,} → {counts[-1]:,}, from snapshots (API, "
                    f"median s; goal under {GROWTH_GOAL:g}×)",
                    ["job", "small", "big", "×", "goal"],
                    [(name, small[name], big[name], big[name] / small[name],
                      "met" if big[name] / small[name] < GROWTH_GOAL else "not met")
                     for name in SNAPSHOT_JOBS])
    if len(results) > 1:
        small, big = results[counts[0]], results[counts[-1]]
        growth = [(name, small[name]["rollups"].median, t["rollups"].median,
                   t["rollups"].median / small[name]["rollups"].median,
                   small[name]["raw"].median, t["raw"].median,
                   t["raw"].median / small[name]["raw"].median,
                   "met" if t["rollups"].median / small[name]["rollups"].median < GROWTH_GOAL
                   else "not met")
                  for name, t in big.items()]
        print_table(f"Growth {counts[0]:,} → {counts[-1]:,} (API, median s; goal under "
                    f"{GROWTH_GOAL:g}×, with rollups)",
                    ["job", "rollups small", "rollups big", "×", "raw small", "raw big", "×",
                     "goal"], growth)
