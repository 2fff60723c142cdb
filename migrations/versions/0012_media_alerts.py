"""Photos, alerts, contacts and the notification outbox (issue 13).

* ``photo``: a re-encoded image of a complaint, stored content-addressed (``sha256``) with its
  thumbnail; ``token`` is the random id of its public URL, so URLs say nothing about volume.
* ``user_contact``: how an account wants to be reached (a webhook with its HMAC secret, or an
  e-mail address) and in which language.
* ``alert``: an area an account watches (stored as a polygon, whatever it was drawn as),
  categories and event kinds; ``token`` is the secret of its unsubscribe link.
* ``outbox``: one row per notification to deliver, written in the transaction of the change
  (a transactional outbox). ``id`` is the stable delivery id receivers deduplicate on.

Revision ID: 0012_media_alerts
Revises: 0011_footprints
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0012_media_alerts"
down_revision = "0011_footprints"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "photo",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("token", sa.Text, nullable=False, unique=True),
        sa.Column("complaint_id", sa.BigInteger,
                  sa.ForeignKey("complaint.id", ondelete="CASCADE"), nullable=False),
        sa.Column("stage", sa.Text, nullable=False),
        sa.Column("private", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("thumbnail_sha256", sa.Text, nullable=False),
        sa.Column("media_type", sa.Text, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("uploaded_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("stage IN ('REPORT', 'AFTER')", name="photo_stage"),
    )
    op.create_index("photo_complaint", "photo", ["complaint_id"])

    op.create_table(
        "user_contact",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("app_user.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("secret", sa.Text),
        sa.Column("lang", sa.Text, nullable=False, server_default="vi"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.UniqueConstraint("user_id", "channel", "target", name="user_contact_unique"),
        sa.CheckConstraint("channel IN ('webhook', 'email')", name="user_contact_channel"),
        sa.CheckConstraint("lang IN ('vi', 'en')", name="user_contact_lang"),
    )

    op.create_table(
        "alert",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token", sa.Text, nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("app_user.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("area", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
                  nullable=False),
        sa.Column("categories", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("event_kinds", ARRAY(sa.Text), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("alert_area", "alert", ["area"], postgresql_using="gist",
                    postgresql_where=sa.text("active"))
    op.create_index("alert_user", "alert", ["user_id"])

    op.create_table(
        "outbox",
        sa.Column("id", UUID(as_uuid=False), primary_key=True,
                  server_default=sa.text("gen_random_uuid()")),
        sa.Column("event_id", sa.BigInteger,
                  sa.ForeignKey("complaint_event.id", ondelete="CASCADE"), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alert.id", ondelete="SET NULL")),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("secret", sa.Text),
        sa.Column("lang", sa.Text, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("dead_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("channel IN ('webhook', 'email')", name="outbox_channel"),
    )
    op.create_index("outbox_due", "outbox", ["next_attempt_at"],
                    postgresql_where=sa.text("delivered_at IS NULL AND dead_at IS NULL"))
    op.create_index("outbox_dead", "outbox", ["dead_at"],
                    postgresql_where=sa.text("dead_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("alert")
    op.drop_table("user_contact")
    op.drop_table("photo")
