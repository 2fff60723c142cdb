"""SQLAlchemy Core tables, mirroring the alembic migrations in ``migrations/``.

Core rather than ORM: every query here is set-based SQL over PostGIS, and rows go straight to
GraphQL types or exports, so an identity map would only add cost.
"""

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID

from workflow.states import Status, complaint_checks

metadata = MetaData()

AREA_LEVELS = ("city", "district", "ward")

boundary_generation = Table(
    "boundary_generation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("valid_from", Date),
    Column("valid_to", Date),
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

admin_area = Table(
    "admin_area",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation_id", ForeignKey("boundary_generation.id", ondelete="CASCADE"),
           nullable=False),
    Column("level", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("name_en", Text),
    Column("parent_id", ForeignKey("admin_area.id", ondelete="SET NULL")),
    Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
    Column("area_km2", Float, nullable=False),
    Column("population", Integer),
    UniqueConstraint("generation_id", "level", "code", name="admin_area_generation_level_code"),
    CheckConstraint("level IN ('city', 'district', 'ward')", name="admin_area_level"),
)

admin_area_part = Table(
    "admin_area_part",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("area_id", ForeignKey("admin_area.id", ondelete="CASCADE"), nullable=False),
    Column("generation_id", Integer, nullable=False),
    Column("level", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("geom", Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False),
)

category = Table(
    "category",
    metadata,
    Column("code", Text, primary_key=True),
    Column("name_vi", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("domain", Text, nullable=False),
    Column("sla_hours", Integer, nullable=False),
    Column("sensitive", Boolean, nullable=False, server_default="false"),
    # The largest footprint a complaint of the category may have (NULL: the settings' default).
    Column("max_footprint_m", Float),
    Column("max_footprint_ha", Float),
    Column("description", Text),
    Column("retired_at", DateTime(timezone=True)),
)

category_group = Table(
    "category_group",
    metadata,
    Column("code", Text, primary_key=True),
    Column("name_vi", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("retired_at", DateTime(timezone=True)),
)

category_attribute = Table(
    "category_attribute",
    metadata,
    Column("category_code", ForeignKey("category.code", ondelete="CASCADE"), primary_key=True),
    Column("code", Text, primary_key=True),
    Column("datatype", Text, nullable=False),
    Column("required", Boolean, nullable=False, server_default="false"),
    Column("position", Integer, nullable=False, server_default="0"),
    Column("description", Text, nullable=False),
    Column("private", Boolean, nullable=False, server_default="false"),
    Column("values", JSONB, nullable=False, server_default="[]"),
)

agency = Table(
    "agency",
    metadata,
    Column("code", Text, primary_key=True),
    Column("name_vi", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("phone", Text),
    Column("email", Text),
    Column("address", Text),
    Column("retired_at", DateTime(timezone=True)),
)

agency_area = Table(
    "agency_area",
    metadata,
    Column("agency_code", ForeignKey("agency.code", ondelete="CASCADE"), primary_key=True),
    Column("generation_id", ForeignKey("boundary_generation.id", ondelete="CASCADE"),
           primary_key=True),
    Column("level", Text, primary_key=True),
    Column("area_code", Text, primary_key=True),
)

agency_member = Table(
    "agency_member",
    metadata,
    Column("agency_code", ForeignKey("agency.code", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True),
)

routing_rule = Table(
    "routing_rule",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("category_code", ForeignKey("category.code")),
    Column("group_code", ForeignKey("category_group.code")),
    Column("area_level", Text),
    Column("area_code", Text),
    Column("agency_code", ForeignKey("agency.code"), nullable=False),
    Column("valid_from", DateTime(timezone=True)),
    Column("valid_to", DateTime(timezone=True)),
    Column("retired_at", DateTime(timezone=True)),
)

work_calendar = Table(
    "work_calendar",
    metadata,
    Column("id", Boolean, primary_key=True, server_default="true"),
    Column("time_zone", Text, nullable=False),
)

working_period = Table(
    "working_period",
    metadata,
    Column("weekday", Integer, primary_key=True),
    Column("starts", Time, primary_key=True),
    Column("ends", Time, nullable=False),
)

holiday = Table(
    "holiday",
    metadata,
    Column("day", Date, primary_key=True),
    Column("name", Text, nullable=False),
)

# Complaints are partitioned by year of created_at (migration 0018, docs/partitions.md): their
# primary key holds created_at, and the keys unique across partitions live in complaint_key,
# which every other table refers to.
complaint = Table(
    "complaint",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("public_id", Text, nullable=False, index=True),
    Column("description", Text, nullable=False),
    Column("category_code", ForeignKey("category.code"), nullable=False),
    # The representative point of the footprint (on it): what point-based work reads.
    Column("location", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    # What the citizen drew: a (Multi)Point, (Multi)LineString or (Multi)Polygon (0011).
    Column("footprint", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
    Column("routing", JSONB),  # why it went to its ward: rule, shares, border candidates
    Column("address", Text),
    Column("ward_id", ForeignKey("admin_area.id", ondelete="SET NULL")),
    Column("district_id", ForeignKey("admin_area.id", ondelete="SET NULL")),
    Column("city_id", ForeignKey("admin_area.id", ondelete="SET NULL")),
    Column("status", Text, nullable=False, server_default=str(Status.RECEIVED)),
    Column("channel", Text, nullable=False, server_default="app"),
    Column("media_urls", ARRAY(Text), nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), primary_key=True, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("first_action_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("due_at", DateTime(timezone=True)),
    Column("rating", Text),
    Column("rated_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("idempotency_key", Text, index=True),
    Column("duplicate_of", BigInteger, ForeignKey("complaint_key.id")),
    Column("assignee_user_id", Integer, ForeignKey("app_user.id", ondelete="SET NULL")),
    Column("rejection_reason", Text),
    # Routing (migration 0010): the agency, the rule that chose it (none: the default) and why.
    Column("agency_code", ForeignKey("agency.code")),
    Column("routing_rule_id", Integer, ForeignKey("routing_rule.id")),
    Column("routing_reason", Text),
    Column("attributes", JSONB, nullable=False, server_default="{}"),
    Column("support_count", Integer, nullable=False, server_default="0"),  # "me too"s
    # Personal data: never selected by public queries, exports or tiles.
    Column("reporter_user_id", Integer, ForeignKey("app_user.id", ondelete="SET NULL")),
    Column("reporter_name", Text),
    Column("reporter_phone", Text),
    Column("reporter_email", Text),
    Column("private_attributes", JSONB, nullable=False, server_default="{}"),
    # Measures the analyses read, computed by PostgreSQL on every write (migration 0007).
    Column("hours_to_first_action", Float,
           Computed("date_part('epoch', first_action_at - created_at) / 3600.0")),
    Column("hours_to_resolution", Float,
           Computed("date_part('epoch', resolved_at - created_at) / 3600.0")),
    Column("utm_epsg", Integer, Computed("utm_srid(location)")),
    Column("utm_x", Float, Computed("ST_X(ST_Transform(location, utm_srid(location)))")),
    Column("utm_y", Float, Computed("ST_Y(ST_Transform(location, utm_srid(location)))")),
    # The public copies of free text, personal data redacted, and their search index (0015).
    Column("public_description", Text, Computed("redact_personal(description)")),
    Column("public_address", Text, Computed("redact_personal(address)")),
    Column("search_vector", TSVECTOR, Computed(
        "to_tsvector('simple'::regconfig, fold_text(redact_personal(description)))")),
    # The public description folded (accents off, lower case) for duplicate candidates' trigram
    # similarity (0021).
    Column("folded_description", Text, Computed("fold_text(redact_personal(description))")),
    *complaint_checks(),
)

# One narrow row per complaint, written by a trigger on every insert (0018): the ids, public
# ids and idempotency keys unique across all partitions.
complaint_key = Table(
    "complaint_key",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("public_id", Text, nullable=False, unique=True),
    Column("idempotency_key", Text, unique=True),
)

# Partitioned by year of ``at`` (0018): the primary key holds the time.
complaint_event = Table(
    "complaint_event",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("complaint_id", ForeignKey("complaint_key.id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime(timezone=True), primary_key=True, server_default=func.now()),
    Column("actor", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("from_status", Text),
    Column("to_status", Text),
    Column("note", Text),
    Column("data", JSONB, nullable=False, server_default="{}"),
)

app_user = Table(
    "app_user",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", Text, nullable=False, unique=True),
    Column("display_name", Text),
    Column("role", Text, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

user_area = Table(
    "user_area",
    metadata,
    Column("user_id", ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True),
    Column("level", Text, primary_key=True),
    Column("code", Text, primary_key=True),
)

api_token = Table(
    "api_token",
    metadata,
    Column("jti", Text, primary_key=True),
    Column("user_id", ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False),
    Column("label", Text),
    Column("issued_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

# Open311 client applications' keys (migration 0014): only a hash of each key is kept.
open311_api_key = Table(
    "open311_api_key",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("label", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
)

photo = Table(
    "photo",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("token", Text, nullable=False, unique=True),  # the random id of its public URL
    Column("complaint_id", ForeignKey("complaint_key.id", ondelete="CASCADE"), nullable=False),
    Column("stage", Text, nullable=False),  # REPORT (the citizen's) or AFTER (the resolution's)
    Column("private", Boolean, nullable=False, server_default="false"),
    Column("sha256", Text, nullable=False),
    Column("thumbnail_sha256", Text, nullable=False),
    Column("media_type", Text, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("uploaded_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

user_contact = Table(
    "user_contact",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False),
    Column("channel", Text, nullable=False),  # webhook | email
    Column("target", Text, nullable=False),  # the URL or the address
    Column("secret", Text),  # the webhook's HMAC key
    Column("lang", Text, nullable=False, server_default="vi"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("user_id", "channel", "target", name="user_contact_unique"),
)

alert = Table(
    "alert",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token", Text, nullable=False, unique=True),  # the secret of its unsubscribe link
    Column("user_id", ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("area", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
    Column("categories", ARRAY(Text), nullable=False, server_default="{}"),  # empty: all
    Column("event_kinds", ARRAY(Text), nullable=False),
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True,
           server_default=text("gen_random_uuid()")),  # the stable delivery id
    Column("event_id", BigInteger, nullable=False),
    Column("event_at", DateTime(timezone=True), nullable=False),  # the event's key holds it
    Column("reason", Text, nullable=False),  # reporter | alert | jurisdiction
    Column("alert_id", ForeignKey("alert.id", ondelete="SET NULL")),
    Column("channel", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("secret", Text),
    Column("lang", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False,
           server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True)),
    Column("dead_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ForeignKeyConstraint(["event_id", "event_at"], ["complaint_event.id", "complaint_event.at"],
                         ondelete="CASCADE"),
)

complaint_support = Table(
    "complaint_support",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("complaint_id", ForeignKey("complaint_key.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("app_user.id", ondelete="SET NULL")),
    # Personal data of the supporter: for the officials who act on the complaint only.
    Column("name", Text),
    Column("phone", Text),
    Column("email", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

triage_model = Table(
    "triage_model",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("trained_from", DateTime(timezone=True), nullable=False),
    Column("trained_to", DateTime(timezone=True), nullable=False),
    Column("samples", Integer, nullable=False),
    Column("metrics", JSONB, nullable=False, server_default="{}"),
    Column("model", LargeBinary, nullable=False),
    Column("active", Boolean, nullable=False, server_default="false"),
)

# Personal data: the reporter's contact and the answers to private attributes. Shown only to
# the reporter and the officials who may act (auth/policy.py), never in exports or tiles.
PERSONAL_COMPLAINT_COLUMNS = ("reporter_name", "reporter_phone", "reporter_email",
                              "private_attributes")

# Free text a citizen wrote, which may hold personal data: the public reads its redacted copy.
REDACTED_COLUMNS = {"description": complaint.c.public_description,
                    "address": complaint.c.public_address}

# Public columns of a complaint by the name they are published under: the allow-list every
# public query, export and tile starts from (the analyses' stored measures are left out: nothing
# shows them). Free text is there only as its redacted copy, under the original's name.
PUBLIC_COMPLAINT_COLUMNS = {
    c.name: REDACTED_COLUMNS.get(c.name, c) for c in complaint.c
    if not c.name.startswith("reporter_") and c.name not in PERSONAL_COMPLAINT_COLUMNS
    and c.name != "idempotency_key" and c.computed is None
}

# Sliding-window rate limits shared by every process (migration 0009, UNLOGGED; written only by
# the SQL function rate_limit_hit): each key's hits still in its window.
rate_limit = Table(
    "rate_limit",
    metadata,
    Column("key", Text, primary_key=True),
    Column("hits", ARRAY(DateTime(timezone=True)), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("rate_limit_expires", "expires_at"),
    prefixes=["UNLOGGED"],
)
