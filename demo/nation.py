"""A synthetic nation for ``bench scale``: 34 provinces, their districts and wards, and millions
of complaints generated inside PostgreSQL.

The boundaries are a regular grid (a province is a square of 3 × 3 districts of 3 × 3 wards),
loaded through the same importer as real files (``demo.seed.seed_boundaries``) as one boundary
generation whose top level ("city") holds the provinces, so placement (``covering_areas``),
routing (``route_complaint``) and every analysis work on it as on a real country. The grid is
kept small enough (0.15° provinces, ~270 km² each) to lie in one UTM zone, like one city.

Complaints are drawn by ``INSERT … SELECT generate_series`` in chunks of consecutive numbers
(consecutive reception times), run on parallel connections; each chunk is staged, then written
once through the seed's own steps (``demo.seed.insert_staged``: placed, routed and dated by the
database's rules; and ``write_histories``). The nation's rules have no dates, so each
(category, ward) pair is routed once, by ``route_complaint``, before the complaints (table
:data:`ROUTES`). The rollup triggers are off and the secondary indexes dropped during the
load; both are counted and built once, after it (:func:`finish`, which also finishes a build
that was stopped). A
chunk's random numbers come from ``setseed`` on its own first number: the same size gives the
same data, whatever the number of workers.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from shapely.geometry import MultiPolygon, box
from sqlalchemy import Connection, Engine, text

from analytics import rollups
from catalogue.apply import apply_document
from demo.bulk import defer_indexes, deferred, rebuild_rollups, restore_deferred
from demo.city import DemoArea, DemoGeneration
from demo.complaints import CHANNELS
from demo.organisation import demo_catalogue
from demo.seed import STAGED, create_staging, insert_staged, seed_boundaries, write_histories
from workflow.states import Status

PROVINCES = 34
COLUMNS = 6  # provinces per row of the grid
PROVINCE_DEG = 0.15
SIDE = 3  # districts per side of a province, and wards per side of a district
WEST, SOUTH = 104.80, 20.20  # south-west corner: UTM zone 48N, like Hanoi
GENERATION = "nation-2025"
CHUNK = 50_000
ROUTES = "nation_route"
LOAD = "nation_load"  # the plan of a load under way (size, time span, chunk): a stopped one resumes
PUBLIC_ID = "'SC-' || lpad(to_hex({n}), 9, '0')"  # complaint number n's public id
# The indexes the load itself reads (the histories find a chunk's complaints by public id);
# every other secondary index of the tables it writes is built once, after it.
LOAD_INDEXES = {"complaint": ("complaint_public_id",), "complaint_event": (),
                "complaint_area": ()}
MARGIN = 0.02  # share of a ward's side kept free of complaints along its edges

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Build:
    """What building the data set took: seconds per step."""

    boundaries_s: float
    complaints_s: float
    indexes_s: float
    rollups_s: float
    vacuum_s: float


def province_code(n: int) -> str:
    return f"P{n + 1:02d}"


def build_nation(provinces: int = PROVINCES) -> DemoGeneration:
    """The provinces (level "city"), districts and wards of the grid, as one generation."""
    areas: list[DemoArea] = []
    step = PROVINCE_DEG / SIDE
    for p in range(provinces):
        code = province_code(p)
        x0, y0 = WEST + (p % COLUMNS) * PROVINCE_DEG, SOUTH + (p // COLUMNS) * PROVINCE_DEG
        areas.append(_area(code, f"Tỉnh {code}", "city", None, x0, y0, PROVINCE_DEG))
        for d in range(SIDE * SIDE):
            district = f"{code}D{d + 1}"
            dx, dy = x0 + (d % SIDE) * step, y0 + (d // SIDE) * step
            areas.append(_area(district, f"Huyện {district}", "district", code, dx, dy, step))
            for w in range(SIDE * SIDE):
                ward = f"{district}W{w + 1}"
                areas.append(_area(ward, f"Xã {ward}", "ward", district,
                                   dx + (w % SIDE) * step / SIDE,
                                   dy + (w // SIDE) * step / SIDE, step / SIDE))
    return DemoGeneration(GENERATION, date(2000, 1, 1), None, tuple(areas))


def _area(code: str, name: str, level: str, parent: str | None, x: float, y: float,
          side: float) -> DemoArea:
    # Corners rounded as the importer stores them (7 decimals), so neighbours share vertices.
    corners = [round(v, 7) for v in (x, y, x + side, y + side)]
    return DemoArea(code, name, name, level, parent, MultiPolygon([box(*corners)]), None)


def catalogue(generation: DemoGeneration) -> dict[str, Any]:
    """The demo catalogue, its city-wide routing rules repeated for every province."""
    document = demo_catalogue([generation])
    provinces = [a.code for a in generation.areas if a.level == "city"]
    local = [r for r in document["rules"] if r["area"]["level"] != "city"]
    national = [r for r in document["rules"] if r["area"]["level"] == "city"]
    document["rules"] = local + [
        {**rule, "code": f"{rule['code']}-{code.lower()}", "area": {"level": "city", "code": code}}
        for code in provinces for rule in national]
    return document


def seed_nation(engine: Engine, complaints: int, provinces: int = PROVINCES, years: int = 3,
                workers: int = 2, chunk: int = CHUNK, now: datetime | None = None,
                on_progress: Progress = lambda done, total: None) -> Build:
    """Load the nation into an empty database (``demo.seed.reset`` first): boundaries and
    catalogue, then ``complaints`` complaints received over ``years`` years before ``now``."""
    start = datetime.now(UTC)
    generation = build_nation(provinces)
    seed_boundaries(engine, [generation])
    with engine.begin() as conn:
        apply_document(conn, catalogue(generation))
        route_pairs(conn)
    boundaries = datetime.now(UTC)
    end = (now or datetime.now(UTC)).replace(microsecond=0)
    with engine.begin() as conn:
        rollups.set_triggers(conn, False)
        conn.execute(text(f"""CREATE TABLE {LOAD} AS SELECT CAST(:total AS bigint) AS total,
                                  CAST(:first AS timestamptz) AS first,
                                  CAST(:end AS timestamptz) AS "end", :chunk AS chunk"""),
                     {"total": complaints, "first": end - timedelta(days=365 * years),
                      "end": end, "chunk": chunk})
    defer_indexes(engine, LOAD_INDEXES)
    return Build((boundaries - start).total_seconds(), load(engine, workers, on_progress),
                 *finish(engine, workers))


def stopped_load(engine: Engine) -> int | None:
    """The number of complaints of a load that was stopped (None: none was)."""
    with engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": LOAD}).scalar() is None:
            return None
        return conn.execute(text(f"SELECT total FROM {LOAD}")).scalar_one()


def load(engine: Engine, workers: int, on_progress: Progress) -> float:
    """The complaints planned in :data:`LOAD` by chunks on ``workers`` connections, but the
    chunks a stopped load wrote (each chunk is one transaction: its first complaint is there
    or none of it is); :data:`LOAD` dropped at the end. Its seconds. :data:`ROUTES` is
    unlogged (written once, read by every chunk), so a crash of the server empties it: it is
    routed again if it is empty."""
    start = datetime.now(UTC)
    with engine.connect() as conn:
        plan = conn.execute(text(f'SELECT total, first, "end", chunk FROM {LOAD}')).one()
        chunks = [(lo, min(lo + plan.chunk, plan.total))
                  for lo in range(0, plan.total, plan.chunk)]
        written = set(conn.execute(text(f"""
            SELECT n FROM unnest(CAST(:starts AS bigint[])) AS n
            WHERE EXISTS (SELECT 1 FROM complaint WHERE public_id = {PUBLIC_ID.format(n="n")})"""),
            {"starts": [lo for lo, _ in chunks]}).scalars())
        routed = conn.execute(text("SELECT to_regclass(:t)"), {"t": ROUTES}).scalar()
        if routed is None or not conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {ROUTES})")
                                              ).scalar_one():
            route_pairs(conn)  # unlogged: a crash of the server empties it
            conn.commit()
    done = sum(hi - lo for lo, hi in chunks if lo in written)
    span = {"first": plan.first, "end": plan.end, "total": plan.total}

    def one(bounds: tuple[int, int]) -> int:
        with engine.begin() as conn:
            generate_chunk(conn, *bounds, **span)
        return bounds[1] - bounds[0]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for count in pool.map(one, [c for c in chunks if c[0] not in written]):
            done += count
            on_progress(done, plan.total)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {LOAD}"))
    return (datetime.now(UTC) - start).total_seconds()


def migrate(engine: Engine, workers: int, config: Config) -> None:
    """The database upgraded to the newest revision (alembic ``config``), whatever state a
    stopped build left it in. A load stopped at an older revision left its secondary indexes
    dropped (their definitions in :data:`demo.bulk.DEFERRED`), and a later migration that
    drops or rebuilds one (0025, 0028: ``complaint_due``) fails without it; so, when a
    migration is pending, they are built again first. If the load is still to resume, they
    are dropped again after the upgrade, as the migrations left them, and the rollup triggers
    (a new migration's too) turned off, as :func:`seed_nation` left them."""
    with engine.connect() as conn:
        heads = set(ScriptDirectory.from_config(config).get_heads())
        pending = (bool(deferred(conn))
                   and set(MigrationContext.configure(conn).get_current_heads()) != heads)
    if pending:
        restore_deferred(engine, workers)
    command.upgrade(config, "head")
    if pending and stopped_load(engine) is not None:
        with engine.begin() as conn:
            rollups.set_triggers(conn, False)
        defer_indexes(engine, LOAD_INDEXES)


def unfinished(engine: Engine) -> bool:
    """Whether a bulk load stopped before :func:`finish` ended: indexes left to build, or
    rollup triggers still off."""
    with engine.connect() as conn:
        return bool(deferred(conn)) or conn.execute(text(
            "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = ANY(:names) "
            "AND tgenabled = 'D')"),
            {"names": [n for names in rollups.TRIGGERS.values() for n in names]}).scalar_one()


def finish(engine: Engine, workers: int) -> tuple[float, float, float]:
    """The steps after the load, each resumable (a build stopped in any of them is finished
    by calling this again): the dropped indexes built, the rollups counted once and their
    triggers on, ``VACUUM ANALYZE``; their seconds.

    The rollup triggers were off during the load: a trigger recounting the days of a
    50,000-complaint statement costs far more than one count of everything, and two chunks
    written at once would take the rows of the day or month between them in opposite orders
    (a deadlock)."""
    start = datetime.now(UTC)
    restore_deferred(engine, workers)
    indexed = datetime.now(UTC)
    rebuild_rollups(engine, workers)
    with engine.begin() as conn:
        rollups.set_triggers(conn, True)
    rolled = datetime.now(UTC)
    vacuum_analyze(engine, workers)
    finished = datetime.now(UTC)
    return ((indexed - start).total_seconds(), (rolled - indexed).total_seconds(),
            (finished - rolled).total_seconds())


def vacuum_analyze(engine: Engine, workers: int) -> None:
    """``VACUUM ANALYZE`` of every table (a partitioned one with its partitions), the largest
    first, on ``workers`` connections: the visibility map lets the analyses scan their
    covering indexes only, and the planner sees the loaded rows."""
    with engine.connect() as conn:
        tables = conn.execute(text("""
            SELECT c.oid::regclass::text FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
              AND NOT c.relispartition
            ORDER BY coalesce((SELECT sum(pg_total_relation_size(t.relid))
                               FROM pg_partition_tree(c.oid) t), 0) DESC""")).scalars().all()

    def one(table: str) -> None:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"VACUUM ANALYZE {table}"))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, tables))


def route_pairs(conn: Connection) -> None:
    """:data:`ROUTES`: the route of every (category, ward) pair, rebuilt."""
    conn.execute(text(f"DROP TABLE IF EXISTS {ROUTES}"))
    conn.execute(text(f"""
        CREATE UNLOGGED TABLE {ROUTES} AS
        SELECT c.code AS category_code, w.id AS ward_id, d.id AS district_id, p.id AS city_id,
               r.agency_code, r.rule_id, r.reason
        FROM category c
        CROSS JOIN admin_area w
        JOIN admin_area d ON d.id = w.parent_id
        JOIN admin_area p ON p.id = d.parent_id
        JOIN boundary_generation g ON g.id = w.generation_id AND g.name = :generation
        LEFT JOIN LATERAL route_complaint(c.code, w.id, d.id, p.id, now()) AS r ON true
        WHERE w.level = 'ward'"""), {"generation": GENERATION})
    conn.execute(text(f"CREATE INDEX ON {ROUTES} (category_code, ward_id)"))
    conn.execute(text(f"ANALYZE {ROUTES}"))


# Complaints :lo ≤ n < :hi of :total, received evenly from :first to :end, in wards drawn with
# a skew (the first provinces are the busiest, as Hanoi and Ho Chi Minh City are), at a random
# point inside the ward away from its edges, in categories drawn with a skew.
DRAW = f"""
    INSERT INTO {STAGED} (public_id, description, category_code, location, status, channel,
                          created_at, updated_at, first_action_at, resolved_at, rating, rated_at)
    WITH ward AS MATERIALIZED (
        SELECT row_number() OVER (ORDER BY a.code) - 1 AS k, ST_XMin(a.geom) AS x0,
               ST_YMin(a.geom) AS y0, ST_XMax(a.geom) AS x1, ST_YMax(a.geom) AS y1
        FROM admin_area a JOIN boundary_generation g ON g.id = a.generation_id
        WHERE g.name = :generation AND a.level = 'ward'),
    category AS MATERIALIZED (
        SELECT row_number() OVER (ORDER BY code) - 1 AS k, code FROM category),
    drawn AS MATERIALIZED (
        SELECT n, random() AS u_ward, random() AS u_x, random() AS u_y, random() AS u_category,
               random() AS u_status, random() AS u_act, random() AS u_resolve,
               random() AS u_rate, random() AS u_channel, random() AS u_time
        FROM generate_series(:lo, :hi - 1) AS n),
    timed AS (
        SELECT d.*, CAST(:first AS timestamptz)
                    + (CAST(:end AS timestamptz) - CAST(:first AS timestamptz))
                      * ((d.n + d.u_time) / :total) AS created_at,
               CASE WHEN u_status < 0.06 THEN '{Status.RECEIVED}'
                    WHEN u_status < 0.10 THEN '{Status.ASSIGNED}'
                    WHEN u_status < 0.16 THEN '{Status.IN_PROGRESS}'
                    WHEN u_status < 0.68 THEN '{Status.RESOLVED}'
                    WHEN u_status < 0.88 THEN '{Status.CLOSED}'
                    ELSE '{Status.REJECTED}' END AS status
        FROM drawn d),
    acted AS (
        SELECT t.*, CASE WHEN t.status <> '{Status.RECEIVED}'
                         THEN least(t.created_at + (1 + 71 * t.u_act) * interval '1 hour',
                                    CAST(:end AS timestamptz)) END AS first_action_at
        FROM timed t),
    resolved AS (
        SELECT a.*, CASE WHEN a.status IN ('{Status.RESOLVED}', '{Status.CLOSED}',
                                            '{Status.REJECTED}')
                         THEN least(a.first_action_at + (2 + 300 * a.u_resolve) * interval '1 hour',
                                    CAST(:end AS timestamptz)) END AS resolved_at
        FROM acted a)
    SELECT {PUBLIC_ID.format(n="r.n")}, 'Phản ánh số ' || r.n, c.code,
           ST_SetSRID(ST_MakePoint(w.x0 + (:margin + (1 - 2 * :margin) * r.u_x) * (w.x1 - w.x0),
                                   w.y0 + (:margin + (1 - 2 * :margin) * r.u_y) * (w.y1 - w.y0)),
                      4326),
           r.status, (CAST(:channels AS text[]))[1 + floor(r.u_channel * :n_channels)],
           r.created_at, coalesce(r.resolved_at, r.first_action_at, r.created_at),
           r.first_action_at, r.resolved_at,
           CASE WHEN r.status = '{Status.CLOSED}' THEN
                CASE WHEN r.u_rate < 0.6 THEN 'SATISFIED' WHEN r.u_rate < 0.85 THEN 'ACCEPTED'
                     ELSE 'UNSATISFIED' END END,
           CASE WHEN r.status = '{Status.CLOSED}' THEN r.resolved_at END
    FROM resolved r
    JOIN ward w ON w.k = floor((SELECT count(*) FROM ward) * power(r.u_ward, 1.6))
    JOIN category c ON c.k = floor((SELECT count(*) FROM category) * power(r.u_category, 1.3))
    ORDER BY r.n"""


def generate_chunk(conn: Connection, lo: int, hi: int, first: datetime, end: datetime,
                   total: int) -> None:
    """Complaints ``lo`` ≤ n < ``hi`` of ``total``: drawn, staged, then written with their
    places, routes, due times and histories."""
    conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))  # rows drawn in order
    conn.execute(text("SET LOCAL synchronous_commit = off"))  # a crash restarts the build
    conn.execute(text("SET LOCAL work_mem = '64MB'"))  # a chunk's sorts in memory
    conn.execute(text("SELECT setseed(:seed)"), {"seed": lo % 1_000_003 / 1_000_003})
    create_staging(conn)
    conn.execute(text(DRAW), {"generation": GENERATION, "lo": lo, "hi": hi, "first": first,
                              "end": end, "total": total, "margin": MARGIN,
                              "channels": list(CHANNELS), "n_channels": len(CHANNELS)})
    insert_staged(conn, routes=ROUTES)
    fresh = f"SELECT c.* FROM complaint c JOIN {STAGED} s USING (public_id)"
    written = conn.execute(text(f"SELECT count(*) FROM ({fresh}) AS f")).scalar_one()
    if written != hi - lo:  # e.g. routes missing: the chunk would be lost without a word
        raise RuntimeError(f"complaints {lo:,} to {hi:,}: {written:,} of {hi - lo:,} written")
    write_histories(conn, fresh)
