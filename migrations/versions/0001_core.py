"""Core model: boundary generations, admin areas and their subdivided parts, categories,
complaints and their append-only event log.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

CATEGORY_COLUMNS = ("code", "name_vi", "name_en", "domain", "sla_hours", "sensitive")
CATEGORIES = [
    ("planning.violation", "Vi phạm quy hoạch", "Planning violation", "planning", 120, False),
    ("construction.illegal", "Xây dựng không phép, sai phép", "Illegal construction",
     "construction_order", 72, False),
    ("construction.disturbance", "Thi công gây ảnh hưởng", "Construction disturbance",
     "construction_order", 48, False),
    ("environment.waste", "Rác thải, vệ sinh môi trường", "Waste and sanitation", "environment",
     24, False),
    ("environment.pollution", "Ô nhiễm khói, bụi, tiếng ồn", "Pollution (smoke, dust, noise)",
     "environment", 48, False),
    ("environment.flooding", "Ngập úng, thoát nước", "Flooding and drainage", "environment", 24,
     False),
    ("traffic.road_damage", "Hư hỏng đường, hè phố", "Damaged road or pavement", "traffic", 72,
     False),
    ("traffic.signals", "Đèn tín hiệu, biển báo giao thông", "Traffic lights and signs", "traffic",
     24, False),
    ("traffic.encroachment", "Lấn chiếm lòng đường, vỉa hè", "Road and pavement encroachment",
     "traffic", 48, False),
    ("land.dispute", "Tranh chấp, lấn chiếm đất đai", "Land dispute or encroachment", "land", 240,
     True),
    ("public.lighting", "Chiếu sáng công cộng", "Street lighting", "public_services", 48, False),
    ("public.water", "Cấp nước sinh hoạt", "Water supply", "public_services", 24, False),
    ("public.trees", "Cây xanh, công viên", "Trees and parks", "public_services", 72, False),
    ("public.order", "Trật tự đô thị, an ninh", "Public order and security", "public_order", 24,
     True),
    ("other", "Khác", "Other", "other", 120, False),
]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    # The WGS 84 / UTM zone of a geometry's centre (32648, zone 48N, for Hanoi): the projected
    # CRS in which phananh measures metres, chosen from the data rather than hard-coded.
    op.execute("""
        CREATE FUNCTION utm_srid(g geometry) RETURNS integer
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
            SELECT CASE WHEN ST_Y(c) >= 0 THEN 32600 ELSE 32700 END
                   + LEAST(60, GREATEST(1, floor((ST_X(c) + 180) / 6)::int + 1))
            FROM (SELECT ST_Centroid(g) AS c) AS centre
        $$""")
    op.execute("""
        CREATE TABLE boundary_generation (
            id serial PRIMARY KEY,
            name text NOT NULL UNIQUE,
            valid_from date,
            valid_to date,
            active boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now(),
            CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_from < valid_to)
        )""")
    op.execute("""
        CREATE TABLE admin_area (
            id serial PRIMARY KEY,
            generation_id integer NOT NULL REFERENCES boundary_generation(id) ON DELETE CASCADE,
            level text NOT NULL CONSTRAINT admin_area_level
                CHECK (level IN ('city', 'district', 'ward')),
            code text NOT NULL,
            name text NOT NULL,
            name_en text,
            parent_id integer REFERENCES admin_area(id) ON DELETE SET NULL,
            geom geometry(MultiPolygon, 4326) NOT NULL,
            area_km2 double precision NOT NULL,
            population integer,
            CONSTRAINT admin_area_generation_level_code UNIQUE (generation_id, level, code)
        )""")
    op.execute("CREATE INDEX admin_area_geom_gist ON admin_area USING gist (geom)")
    op.execute("CREATE INDEX admin_area_parent ON admin_area (parent_id)")
    # Boundaries cut into small parts: point-in-polygon on a few hundred vertices instead of
    # tens of thousands is what makes batch lookups fast.
    op.execute("""
        CREATE TABLE admin_area_part (
            id bigserial PRIMARY KEY,
            area_id integer NOT NULL REFERENCES admin_area(id) ON DELETE CASCADE,
            generation_id integer NOT NULL,
            level text NOT NULL,
            code text NOT NULL,
            geom geometry(Polygon, 4326) NOT NULL
        )""")
    op.execute("CREATE INDEX admin_area_part_geom_gist ON admin_area_part USING gist (geom)")
    op.execute("CREATE INDEX admin_area_part_area ON admin_area_part (area_id)")

    op.execute("""
        CREATE TABLE category (
            code text PRIMARY KEY,
            name_vi text NOT NULL,
            name_en text NOT NULL,
            domain text NOT NULL,
            sla_hours integer NOT NULL CHECK (sla_hours > 0),
            sensitive boolean NOT NULL DEFAULT false
        )""")
    category = sa.table("category", *(sa.column(name) for name in CATEGORY_COLUMNS))
    op.bulk_insert(category, [dict(zip(CATEGORY_COLUMNS, row, strict=True))
                              for row in CATEGORIES])

    op.execute("""
        CREATE TABLE complaint (
            id bigserial PRIMARY KEY,
            public_id text NOT NULL UNIQUE,
            description text NOT NULL,
            category_code text NOT NULL REFERENCES category(code),
            location geometry(Point, 4326) NOT NULL,
            address text,
            ward_id integer REFERENCES admin_area(id) ON DELETE SET NULL,
            district_id integer REFERENCES admin_area(id) ON DELETE SET NULL,
            city_id integer REFERENCES admin_area(id) ON DELETE SET NULL,
            status text NOT NULL DEFAULT 'RECEIVED' CONSTRAINT complaint_status CHECK (status IN
                ('RECEIVED', 'ASSIGNED', 'IN_PROGRESS', 'RESOLVED', 'REJECTED', 'DUPLICATE',
                 'REOPENED', 'CLOSED')),
            channel text NOT NULL DEFAULT 'app',
            media_urls text[] NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            first_action_at timestamptz,
            resolved_at timestamptz,
            due_at timestamptz,
            rating text CONSTRAINT complaint_rating
                CHECK (rating IN ('SATISFIED', 'ACCEPTED', 'UNSATISFIED')),
            rated_at timestamptz,
            version integer NOT NULL DEFAULT 1,
            idempotency_key text UNIQUE,
            reporter_name text,
            reporter_phone text,
            reporter_email text
        )""")
    op.execute("CREATE INDEX complaint_location_gist ON complaint USING gist (location)")
    # Radius filters measure true metres on the spheroid: index the geography form too.
    op.execute(
        "CREATE INDEX complaint_location_geog_gist ON complaint USING gist ((location::geography))"
    )
    op.execute("CREATE INDEX complaint_created ON complaint (created_at DESC, id DESC)")
    op.execute("CREATE INDEX complaint_ward ON complaint (ward_id, created_at)")
    op.execute("CREATE INDEX complaint_district ON complaint (district_id, created_at)")
    op.execute("CREATE INDEX complaint_category ON complaint (category_code, created_at)")
    op.execute("CREATE INDEX complaint_status ON complaint (status)")

    op.execute("""
        CREATE TABLE complaint_event (
            id bigserial PRIMARY KEY,
            complaint_id bigint NOT NULL REFERENCES complaint(id) ON DELETE CASCADE,
            at timestamptz NOT NULL DEFAULT now(),
            actor text NOT NULL,
            kind text NOT NULL,
            from_status text,
            to_status text,
            note text,
            data jsonb NOT NULL DEFAULT '{}'
        )""")
    op.execute("CREATE INDEX complaint_event_complaint ON complaint_event (complaint_id, at)")
    # The history is evidence: the database itself refuses to edit or delete it.
    op.execute("""
        CREATE FUNCTION complaint_event_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'complaint_event is append-only';
        END $$""")
    op.execute("""
        CREATE TRIGGER complaint_event_no_update BEFORE UPDATE OR DELETE ON complaint_event
        FOR EACH ROW EXECUTE FUNCTION complaint_event_append_only()""")


def downgrade() -> None:
    op.execute("DROP TABLE complaint_event")
    op.execute("DROP FUNCTION complaint_event_append_only()")
    op.execute("DROP TABLE complaint")
    op.execute("DROP TABLE category")
    op.execute("DROP TABLE admin_area_part")
    op.execute("DROP TABLE admin_area")
    op.execute("DROP TABLE boundary_generation")
    op.execute("DROP FUNCTION utm_srid(geometry)")

