"""svc-booking's tables: the platform tables (outbox, processed events, idempotency keys), venues and
their closed days, the places per slot and day, bookings (personal data encrypted; the one booking per
person per venue per day as a partial unique index on the ID number's keyed hash), no-show blocks, and
the keyed hash-chained audit log of staff reads (``kit.audit``).

Revision ID: 0001_booking
Revises:
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kit.audit import create_audit_log, drop_audit_log, key_audit_log
from kit.migrations import create_platform_tables

revision = "0001_booking"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables()
    op.create_table(
        "venues",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("province", sa.String(2), nullable=False),
        sa.Column("city", sa.String(64), nullable=False),
        sa.Column("slots", postgresql.JSONB(), nullable=False),
        sa.Column("closed_weekdays", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venues")),
    )
    op.create_table(
        "closed_days",
        sa.Column("venue_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(["venue_id"], ["venues.id"], name=op.f("fk_closed_days_venue_id_venues")),
        sa.PrimaryKeyConstraint("venue_id", "day", name=op.f("pk_closed_days")),
    )
    op.create_table(
        "slots",
        sa.Column("venue_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("start", sa.String(5), nullable=False),
        sa.Column("end", sa.String(5), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["venue_id"], ["venues.id"], name=op.f("fk_slots_venue_id_venues")),
        sa.PrimaryKeyConstraint("venue_id", "day", "start", name=op.f("pk_slots")),
        # The rule the conditional UPDATE keeps, kept by the database too.
        sa.CheckConstraint("taken >= 0 AND taken <= capacity", name=op.f("ck_slots_taken_within_capacity")),
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("venue_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slot_start", sa.String(5), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("booked_by", sa.String(128), nullable=False),
        sa.Column("person_name", sa.Text(), nullable=False),
        sa.Column("id_number", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("person_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["venue_id"], ["venues.id"], name=op.f("fk_bookings_venue_id_venues")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("code", name=op.f("uq_bookings_code")),
    )
    op.create_index("uq_bookings_person_venue_day", "bookings", ["venue_id", "day", "person_hash"], unique=True,
                    postgresql_where=sa.text("status <> 'cancelled'"))
    op.create_index("ix_bookings_slot_status", "bookings", ["venue_id", "day", "slot_start", "status", "created_at"])
    op.create_index("ix_bookings_person_status", "bookings", ["person_hash", "status", "day"])
    op.create_index("ix_bookings_booked_by", "bookings", ["booked_by", "day"])
    op.create_table(
        "person_blocks",
        sa.Column("person_hash", sa.String(64), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("no_shows", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person_hash", name=op.f("pk_person_blocks")),
    )
    create_audit_log()
    key_audit_log()


def downgrade() -> None:
    drop_audit_log()
    for table in ("person_blocks", "bookings", "slots", "closed_days", "venues",
                  "idempotency_keys", "processed_events", "outbox"):
        op.drop_table(table)
