"""Load the demo city and its complaints into the database.

Boundaries go through the same importer as real files (a GeoJSON per level, written to a
temporary folder), so the demo exercises the real pipeline: repair, upsert, subdivide, parents.
Complaints are streamed with COPY, then routed to wards by one set-based SQL update.
"""

import io
import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from shapely.geometry import mapping
from sqlalchemy import Connection, Engine, text

from analytics import rollups
from auth import tokens, users
from auth.principal import Role
from catalogue.apply import Change, apply_document
from demo.city import DemoGeneration, build_demo_city
from demo.complaints import DemoComplaint, generate_complaints
from demo.organisation import demo_catalogue, ward_committee
from geo.boundaries import BoundaryFile, ImportReport, import_boundaries
from geo.jurisdiction import AREAS_OF_ROWS
from workflow.states import DUPLICATE_ORIGINAL, Status

COPY_BATCH = 20_000
COPY_COLUMNS = ("public_id", "description", "category_code", "location", "address", "status",
                "channel", "created_at", "updated_at", "first_action_at", "resolved_at", "rating",
                "rated_at", "reporter_name", "reporter_phone", "reporter_email")

STAGED = "staged_complaint"

Progress = Callable[[int, int], None]


def seed_boundaries(engine: Engine, generations: Iterable[DemoGeneration]) -> list[ImportReport]:
    reports = []
    with tempfile.TemporaryDirectory() as folder:
        for generation in generations:
            for level in ("city", "district", "ward"):
                path = Path(folder) / f"{generation.name}-{level}.geojson"
                features = [
                    {
                        "type": "Feature",
                        "geometry": mapping(a.geometry),
                        "properties": {
                            "code": a.code,
                            "name": a.name,
                            "name_en": a.name_en,
                            "population": a.population,
                            "parent": a.parent_code,
                        },
                    }
                    for a in generation.areas
                    if a.level == level
                ]
                path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
                source = BoundaryFile(
                    path=path, level=level, parent_field=None if level == "city" else "parent"
                )
                reports.append(
                    import_boundaries(
                        engine, source, generation.name, generation.valid_from, generation.valid_to
                    )
                )
    return reports


def seed_organisation(engine: Engine, generations: Sequence[DemoGeneration]) -> list[Change]:
    """The demo city's catalogue, agencies, routing rules and calendar (applied like any
    city's catalogue file)."""
    with engine.begin() as conn:
        return apply_document(conn, demo_catalogue(generations))


def has_complaints(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT EXISTS (SELECT 1 FROM complaint)")).scalar_one()


def reset(engine: Engine) -> None:
    """Remove all complaints, boundaries and accounts. TRUNCATE: the event log refuses DELETE."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE complaint_event, complaint, admin_area_part, admin_area, "
                "boundary_generation, app_user, routing_rule, agency RESTART IDENTITY CASCADE"
            )
        )


def seed_complaints(
    engine: Engine,
    complaints: Iterable[DemoComplaint],
    total: int,
    on_progress: Progress = lambda done, total: None,
    pause_rollups: bool = True,
) -> int:
    """COPY complaints in batches into a staging table, then write each one once, routed and
    with its due time, and its history.

    Written once, in time order: routing or dating rows after loading them would leave two
    dead versions of every row in the table and its indexes (the covering index every
    analysis scans would be several times its size). The rollups' triggers are off for the
    load, and both rollups are rebuilt once, set-based, at its end
    (``analytics.rollups.paused``): recounting them statement by statement cost more than the
    load itself (``pause_rollups=False`` keeps the triggers on, for ``bench rollups``).
    """
    done = 0
    with engine.begin() as conn:
        create_staging(conn)
        cursor = conn.connection.dbapi_connection.cursor()
        buffer = io.StringIO()
        for complaint in complaints:
            buffer.write(_copy_line(complaint))
            done += 1
            if done % COPY_BATCH == 0:
                _flush(cursor, buffer)
                on_progress(done, total)
        _flush(cursor, buffer)
        on_progress(done, total)
        with rollups.paused(conn) if pause_rollups else nullcontext():
            finish_seeded_complaints(conn)
    return done


def create_staging(conn: Connection) -> None:
    """The transaction's staging table: the columns a generator fills, dropped at commit."""
    conn.execute(text(f"CREATE TEMPORARY TABLE {STAGED} ON COMMIT DROP AS "
                      f"SELECT {', '.join(COPY_COLUMNS)}, NULL::text AS corrected_from, "
                      "NULL::text AS duplicate_of "
                      "FROM complaint WITH NO DATA"))


def finish_seeded_complaints(conn: Connection) -> None:
    """The staged complaints into ``complaint``, their duplicates marked, then a plausible
    event history for every complaint that has none yet."""
    insert_staged(conn)
    # The originals are inserted by the same statement, so their ids are known only now; the
    # few marked duplicates (a share of the complaints) are updated once.
    conn.execute(text(f"""
        UPDATE complaint c SET duplicate_of = o.id
        FROM {STAGED} s JOIN complaint o ON o.public_id = s.duplicate_of
        WHERE s.duplicate_of IS NOT NULL AND c.public_id = s.public_id"""))
    write_histories(conn, "SELECT * FROM complaint c WHERE NOT EXISTS "
                          "(SELECT 1 FROM complaint_event e WHERE e.complaint_id = c.id)")


# Each staged complaint's route, at its submission time, once per (category, areas, instant).
ROUTE_EACH = """(
    SELECT pair.*, routed.agency_code, routed.rule_id, routed.reason
    FROM (SELECT DISTINCT category_code, ward_id, district_id, city_id, created_at FROM placed)
         AS pair
    LEFT JOIN LATERAL route_complaint(pair.category_code, pair.ward_id, pair.district_id,
                                      pair.city_id, pair.created_at) AS routed ON true)"""


def insert_staged(conn: Connection, routes: str | None = None) -> None:
    """The staged complaints into ``complaint``: areas in force today, routed by the routing
    rules, due when their category's SLA runs out in working time.

    Each complaint is routed at its submission time, unless ``routes`` names a table of routes
    made beforehand by ``route_complaint`` per (category_code, ward_id, district_id, city_id)
    (columns agency_code, rule_id, reason): for a bulk load during which no rule changes."""
    same_time = "" if routes else "AND r.created_at = p.created_at"
    conn.execute(text(f"""
        INSERT INTO complaint ({", ".join(COPY_COLUMNS)}, ward_id, district_id, city_id, due_at,
                               agency_code, routing_rule_id, routing_reason)
        WITH placed AS MATERIALIZED (
            SELECT s.*, areas.ward_id, areas.district_id, areas.city_id
            FROM {STAGED} s
            LEFT JOIN ({AREAS_OF_ROWS.format(
                rows=f"(SELECT public_id AS key, location FROM {STAGED})")}
                      ) AS areas ON areas.key = s.public_id)
        SELECT {", ".join(f"p.{column}" for column in COPY_COLUMNS)},
               p.ward_id, p.district_id, p.city_id, working_due(p.created_at, cat.sla_hours),
               r.agency_code, r.rule_id, r.reason
        FROM placed p
        JOIN category cat ON cat.code = p.category_code
        JOIN {routes or ROUTE_EACH} AS r
             ON r.category_code = p.category_code {same_time}
            AND coalesce(r.ward_id, 0) = coalesce(p.ward_id, 0)
            AND coalesce(r.district_id, 0) = coalesce(p.district_id, 0)
            AND coalesce(r.city_id, 0) = coalesce(p.city_id, 0)
        ORDER BY p.created_at, p.public_id"""), {"at": datetime.now(UTC).date()})


def write_histories(conn: Connection, fresh: str) -> None:
    """A plausible event history for the complaints ``fresh`` selects (a SELECT of whole
    ``complaint`` rows): submitted, acted on, closed and rated when they were."""
    conn.execute(
        text(f"""
        WITH fresh AS ({fresh})
        INSERT INTO complaint_event (complaint_id, at, actor, kind, from_status, to_status, data)
        SELECT id, created_at, 'reporter', 'SUBMITTED', NULL, :received,
               jsonb_build_object('channel', channel) FROM fresh
        UNION ALL
        SELECT id, first_action_at, 'demo-officer', 'TRANSITION', :received, :assigned, '{{}}'
        FROM fresh WHERE first_action_at IS NOT NULL
        UNION ALL
        SELECT id, COALESCE(resolved_at, first_action_at), 'demo-officer', 'TRANSITION',
               :assigned, status, CASE WHEN duplicate_of IS NULL THEN '{{}}'::jsonb
                   ELSE jsonb_build_object(:original, (SELECT o.public_id FROM complaint o
                                                       WHERE o.id = fresh.duplicate_of)) END
        FROM fresh WHERE status NOT IN (:received, :assigned)
        UNION ALL
        SELECT id, rated_at, 'reporter', 'RATED', NULL, NULL, jsonb_build_object('rating', rating)
        FROM fresh WHERE rating IS NOT NULL
        UNION ALL
        SELECT fresh.id, fresh.first_action_at, 'demo-officer', 'CATEGORY_CORRECTED', NULL, NULL,
               jsonb_build_object('from', s.corrected_from, 'to', fresh.category_code)
        FROM fresh JOIN {STAGED} s USING (public_id) WHERE s.corrected_from IS NOT NULL"""),
        {"received": str(Status.RECEIVED), "assigned": str(Status.ASSIGNED),
         "original": DUPLICATE_ORIGINAL},
    )


def seed_demo(
    engine: Engine,
    complaints: int,
    seed: int = 2025,
    on_progress: Progress = lambda done, total: None,
    years: int = 1,
) -> tuple[list[ImportReport], int]:
    generations = build_demo_city(seed)
    reports = seed_boundaries(engine, generations)
    seed_organisation(engine, generations)
    outline = next(a.geometry for a in generations[-1].areas if a.level == "city")
    now = datetime.now(UTC).replace(microsecond=0)
    stream = generate_complaints(complaints, outline, seed=seed, now=now, years=years)
    return reports, seed_complaints(engine, stream, complaints, on_progress)


def _flush(cursor: object, buffer: io.StringIO) -> None:
    buffer.seek(0)
    cursor.copy_expert(f"COPY {STAGED} FROM STDIN", buffer)  # type: ignore[attr-defined]
    buffer.seek(0)
    buffer.truncate()


def _copy_line(c: DemoComplaint) -> str:
    values = (
        c.public_id,
        c.description,
        c.category_code,
        f"SRID=4326;POINT({c.lon!r} {c.lat!r})",
        c.address,
        c.status,
        c.channel,
        c.created_at,
        c.resolved_at or c.first_action_at or c.created_at,
        c.first_action_at,
        c.resolved_at,
        c.rating,
        c.rated_at,
        c.reporter_name,
        c.reporter_phone,
        c.reporter_email,
        c.corrected_from,
        c.duplicate_of,
    )
    return "\t".join(_copy_value(v) for v in values) + "\n"


def _copy_value(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def seed_demo_users(engine: Engine) -> list[tuple[str, str, str]]:
    """One account per role, scoped to the busiest ward (the agency officer to its People's
    Committee), and a token for each.

    The demo citizen becomes the reporter of a few complaints in that ward, so every role has
    something to try. Returns (role, username, token) rows to print.
    """
    with engine.begin() as conn:
        ward = conn.execute(text("""
            SELECT w.code AS ward, d.code AS district
            FROM complaint c JOIN admin_area w ON w.id = c.ward_id
            LEFT JOIN admin_area d ON d.id = c.district_id
            GROUP BY w.code, d.code ORDER BY count(*) DESC, w.code LIMIT 1""")).one()
        accounts = [
            (Role.CITIZEN, "demo-citizen", ()),
            (Role.WARD_OFFICER, "demo-ward-officer", (ward.ward,)),
            (Role.DISTRICT_OFFICER, "demo-district-officer",
             (ward.district,) if ward.district else ()),
            (Role.CITY_ADMIN, "demo-city-admin", ()),
            (Role.ANALYST, "demo-analyst", ()),
            (Role.AGENCY_OFFICER, "demo-agency-officer", ()),
        ]
        issued = []
        for role, username, areas in accounts:
            if role is Role.DISTRICT_OFFICER and not areas:
                continue  # a city without districts has no district officers
            # the agency officer works for the ward's People's Committee
            agencies = (ward_committee(ward.ward),) if role is Role.AGENCY_OFFICER else ()
            user_id = users.add_user(conn, username, role, areas, display_name=username,
                                     agencies=agencies)
            issued.append((str(role), username,
                           tokens.issue_token(conn, username, label="demo")))
            if role is Role.CITIZEN:
                conn.execute(text("""
                    UPDATE complaint SET reporter_user_id = :user WHERE id IN (
                        SELECT c.id FROM complaint c JOIN admin_area w ON w.id = c.ward_id
                        WHERE w.code = :ward ORDER BY c.created_at DESC LIMIT 20)"""),
                    {"user": user_id, "ward": ward.ward})
    return issued
