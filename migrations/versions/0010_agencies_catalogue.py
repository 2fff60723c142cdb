"""Agencies, a city's own catalogue, routing rules and the working-time calendar.

* ``category_group`` names the existing ``category.domain`` values (the Open311 "group");
  categories gain a description and ``retired_at`` (a retired category stays readable and
  keeps its complaints, but takes no new ones); ``category_attribute`` holds their custom
  attributes (Open311 service definitions: six datatypes, required, order, description,
  allowed values, private).
* ``agency`` (offices), the areas each serves by boundary generation (``agency_area``), and
  the officials who belong to each (``agency_member``); ``app_user.role`` gains
  ``agency_officer``.
* ``routing_rule``: a category or group (or every category) × an area of any level (or
  everywhere) → an agency, with validity dates.
* ``work_calendar``, ``working_period`` and ``holiday``: the city's working hours and public
  holidays, in which SLAs are counted.
* ``complaint`` stores the agency, the rule and the reason it was routed there, and the
  answers to its category's attributes, public and private apart (private answers are
  personal data: ``PUBLIC_COMPLAINT_COLUMNS`` leaves them out like the reporter's contact).

Two rules get one home each, as SQL functions every writer calls:

* ``route_complaint(category, ward_id, district_id, city_id, at)``: the agency, rule and
  reason for a complaint placed in those areas at ``at``. Rules valid at ``at`` whose area is
  one of the complaint's areas, or everywhere, compete: the most specific area wins (ward over
  district over city over everywhere), then a category over a group over every category, then
  the latest ``valid_from``, then the lowest id. With no rule, the default: the People's
  Committee (kind ``ward_committee``) serving the ward in the ward's generation.
* ``working_due(start, hours)``: ``start`` plus ``hours`` of working time in the city's
  calendar (working periods by ISO weekday, holidays skipped, counted in the calendar's time
  zone); plain hours when no calendar is configured.

Revision ID: 0010_agencies_catalogue
Revises: 0009_rate_limits
Create Date: 2026-12-02
"""

from alembic import op

revision = "0010_agencies_catalogue"
down_revision = "0009_rate_limits"
branch_labels = None
depends_on = None

GROUPS = [
    ("planning", "Quy hoạch", "Planning"),
    ("construction_order", "Trật tự xây dựng", "Construction order"),
    ("environment", "Môi trường", "Environment"),
    ("traffic", "Giao thông", "Traffic"),
    ("land", "Đất đai", "Land"),
    ("public_services", "Dịch vụ công cộng", "Public services"),
    ("public_order", "Trật tự, an ninh", "Public order"),
    ("other", "Khác", "Other"),
]

# app_user.role gains agency_officer: an agency's official, scoped by the agency's areas.
PREVIOUS_ROLES = "'citizen', 'ward_officer', 'district_officer', 'city_admin', 'analyst'"
ROLES = PREVIOUS_ROLES + ", 'agency_officer'"

ROUTE_COMPLAINT = """
    CREATE FUNCTION route_complaint(category text, ward_id integer, district_id integer,
                                    city_id integer, at timestamptz)
    RETURNS TABLE (agency_code text, rule_id integer, reason text)
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
        WITH here AS (
            SELECT a.id, a.level, a.code, a.generation_id, v.rank
            FROM (VALUES (route_complaint.ward_id, 1), (route_complaint.district_id, 2),
                         (route_complaint.city_id, 3)) AS v(id, rank)
            JOIN admin_area a ON a.id = v.id),
        cat AS (SELECT c.code, c.domain FROM category c WHERE c.code = route_complaint.category),
        candidates AS (
            SELECT r.agency_code, r.id AS rule_id,
                   format('rule %s: %s in %s', r.code,
                          COALESCE(r.category_code, 'group ' || r.group_code, 'every category'),
                          COALESCE(h.level || ' ' || h.code, 'every area')) AS reason,
                   COALESCE(h.rank, 4) AS area_rank,
                   CASE WHEN r.category_code IS NOT NULL THEN 1
                        WHEN r.group_code IS NOT NULL THEN 2 ELSE 3 END AS category_rank,
                   r.valid_from, r.id AS tie
            FROM routing_rule r
            JOIN agency ag ON ag.code = r.agency_code AND ag.retired_at IS NULL
            CROSS JOIN cat
            LEFT JOIN here h ON h.level = r.area_level AND h.code = r.area_code
            WHERE r.retired_at IS NULL
              AND (r.valid_from IS NULL OR r.valid_from <= route_complaint.at)
              AND (r.valid_to IS NULL OR route_complaint.at < r.valid_to)
              AND (r.area_code IS NULL OR h.id IS NOT NULL)
              AND (r.category_code = cat.code OR r.group_code = cat.domain
                   OR (r.category_code IS NULL AND r.group_code IS NULL))
            UNION ALL
            SELECT ag.code, NULL,
                   format('default: the People''s Committee of ward %s', h.code), 5, 4,
                   NULL, NULL
            FROM here h
            JOIN agency_area aa ON aa.generation_id = h.generation_id AND aa.level = h.level
                               AND aa.area_code = h.code
            JOIN agency ag ON ag.code = aa.agency_code AND ag.retired_at IS NULL
                          AND ag.kind = 'ward_committee'
            WHERE h.rank = 1)
        SELECT agency_code, rule_id, reason FROM candidates
        ORDER BY area_rank, category_rank, valid_from DESC NULLS LAST, tie, agency_code
        LIMIT 1
    $$"""

# Working periods from the day of ``start`` on, holidays skipped, as local timestamps; their
# running total of hours finds the period in which the SLA runs out. Days generated: the
# whole weeks the hours need, a week more, and one per holiday still to come: enough however
# the holidays fall.
WORKING_DUE = """
    CREATE FUNCTION working_due(start timestamptz, hours double precision)
    RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
        WITH cal AS (
            SELECT c.time_zone AS tz, (start AT TIME ZONE c.time_zone) AS t0,
                   (SELECT sum(date_part('epoch', p.ends - p.starts)) / 3600
                    FROM working_period p) AS weekly
            FROM work_calendar c),
        spans AS (
            SELECT greatest(g.day + p.starts, cal.t0) AS s, g.day + p.ends AS e, cal.tz
            FROM cal
            CROSS JOIN LATERAL generate_series(
                date_trunc('day', cal.t0),
                date_trunc('day', cal.t0) + make_interval(days =>
                    ceil(hours * 7 / cal.weekly)::int + 7
                    + (SELECT count(*) FROM holiday h WHERE h.day >= cal.t0::date)::int),
                interval '1 day') AS g(day)
            JOIN working_period p ON p.weekday = extract(isodow FROM g.day)
            WHERE cal.weekly > 0 AND g.day + p.ends > cal.t0
              AND NOT EXISTS (SELECT 1 FROM holiday h WHERE h.day = g.day::date)),
        run AS (
            SELECT s, e, tz,
                   sum(date_part('epoch', e - s)) OVER (ORDER BY s) / 3600 AS upto
            FROM spans)
        SELECT COALESCE(
            (SELECT (e - make_interval(secs => (upto - hours) * 3600)) AT TIME ZONE tz
             FROM run WHERE upto >= hours ORDER BY s LIMIT 1),
            start + make_interval(secs => hours * 3600))
    $$"""


def upgrade() -> None:
    op.execute("""
        CREATE TABLE category_group (
            code text PRIMARY KEY,
            name_vi text NOT NULL,
            name_en text NOT NULL,
            retired_at timestamptz
        )""")
    op.execute("INSERT INTO category_group (code, name_vi, name_en) VALUES "
               + ", ".join(f"('{c}', '{vi}', '{en}')" for c, vi, en in GROUPS))
    op.execute("""
        ALTER TABLE category
            ADD COLUMN description text,
            ADD COLUMN retired_at timestamptz,
            ADD CONSTRAINT category_group_fk FOREIGN KEY (domain)
                REFERENCES category_group(code)""")
    op.execute("""
        CREATE TABLE category_attribute (
            category_code text NOT NULL REFERENCES category(code) ON DELETE CASCADE,
            code text NOT NULL,
            datatype text NOT NULL CONSTRAINT category_attribute_datatype CHECK (datatype IN
                ('string', 'number', 'datetime', 'text', 'singlevaluelist', 'multivaluelist')),
            required boolean NOT NULL DEFAULT false,
            position integer NOT NULL DEFAULT 0,
            description text NOT NULL,
            private boolean NOT NULL DEFAULT false,
            "values" jsonb NOT NULL DEFAULT '[]',
            PRIMARY KEY (category_code, code)
        )""")
    op.execute("""
        CREATE TABLE agency (
            code text PRIMARY KEY,
            name_vi text NOT NULL,
            name_en text NOT NULL,
            kind text NOT NULL,
            phone text,
            email text,
            address text,
            retired_at timestamptz
        )""")
    op.execute("""
        CREATE TABLE agency_area (
            agency_code text NOT NULL REFERENCES agency(code) ON DELETE CASCADE,
            generation_id integer NOT NULL
                REFERENCES boundary_generation(id) ON DELETE CASCADE,
            level text NOT NULL,
            area_code text NOT NULL,
            PRIMARY KEY (agency_code, generation_id, level, area_code)
        )""")
    op.execute("CREATE INDEX agency_area_area ON agency_area (generation_id, level, area_code)")
    op.execute("ALTER TABLE app_user DROP CONSTRAINT app_user_role")
    op.execute(f"ALTER TABLE app_user ADD CONSTRAINT app_user_role CHECK (role IN ({ROLES}))")
    op.execute("""
        CREATE TABLE agency_member (
            agency_code text NOT NULL REFERENCES agency(code) ON DELETE CASCADE,
            user_id integer NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
            PRIMARY KEY (user_id, agency_code)
        )""")
    op.execute("""
        CREATE TABLE routing_rule (
            id serial PRIMARY KEY,
            code text NOT NULL UNIQUE,
            category_code text REFERENCES category(code),
            group_code text REFERENCES category_group(code),
            area_level text CHECK (area_level IN ('city', 'district', 'ward')),
            area_code text,
            agency_code text NOT NULL REFERENCES agency(code),
            valid_from timestamptz,
            valid_to timestamptz,
            retired_at timestamptz,
            CHECK (category_code IS NULL OR group_code IS NULL),
            CHECK ((area_level IS NULL) = (area_code IS NULL)),
            CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_from < valid_to)
        )""")
    op.execute("""
        CREATE TABLE work_calendar (
            id boolean PRIMARY KEY DEFAULT true CHECK (id),
            time_zone text NOT NULL
        )""")
    op.execute("""
        CREATE TABLE working_period (
            weekday integer NOT NULL CHECK (weekday BETWEEN 1 AND 7),
            starts time NOT NULL,
            ends time NOT NULL,
            PRIMARY KEY (weekday, starts),
            CHECK (starts < ends)
        )""")
    op.execute("CREATE TABLE holiday (day date PRIMARY KEY, name text NOT NULL)")
    op.execute("""
        ALTER TABLE complaint
            ADD COLUMN agency_code text REFERENCES agency(code),
            ADD COLUMN routing_rule_id integer REFERENCES routing_rule(id),
            ADD COLUMN routing_reason text,
            ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}',
            ADD COLUMN private_attributes jsonb NOT NULL DEFAULT '{}'""")
    op.execute("CREATE INDEX complaint_agency ON complaint (agency_code, created_at)")
    op.execute(ROUTE_COMPLAINT)
    op.execute(WORKING_DUE)


def downgrade() -> None:
    op.execute("DROP FUNCTION working_due(timestamptz, double precision)")
    op.execute("DROP FUNCTION route_complaint(text, integer, integer, integer, timestamptz)")
    op.execute("""
        ALTER TABLE complaint
            DROP COLUMN agency_code, DROP COLUMN routing_rule_id, DROP COLUMN routing_reason,
            DROP COLUMN attributes, DROP COLUMN private_attributes""")
    for table in ("holiday", "working_period", "work_calendar", "routing_rule",
                  "agency_member", "agency_area", "agency", "category_attribute"):
        op.execute(f"DROP TABLE {table}")
    op.execute("""
        ALTER TABLE category DROP CONSTRAINT category_group_fk,
            DROP COLUMN description, DROP COLUMN retired_at""")
    op.execute("DROP TABLE category_group")
    op.execute("ALTER TABLE app_user DROP CONSTRAINT app_user_role")
    op.execute(f"ALTER TABLE app_user ADD CONSTRAINT app_user_role CHECK (role IN "
               f"({PREVIOUS_ROLES}))")
