"""svc-notifications' tables: the platform tables, the audit log, notifications, deliveries and recipients.

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from kit.audit import create_audit_log, drop_audit_log, key_audit_log
from kit.migrations import create_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables()
    create_audit_log()
    key_audit_log()
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(160), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title_zh", sa.Text, nullable=False),
        sa.Column("title_en", sa.Text, nullable=False),
        sa.Column("body_zh", sa.Text, nullable=False),
        sa.Column("body_en", sa.Text, nullable=False),
        sa.Column("ref_type", sa.String(32)),
        sa.Column("ref_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("event_id", name="uq_notifications_event_id"),
    )
    op.create_index("ix_notifications_inbox", "notifications", ["recipient", "id"])
    op.create_index("ix_notifications_unread", "notifications", ["recipient"], postgresql_where="read_at IS NULL")
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("notification_id", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(160), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(300)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("event_id", "channel", name="uq_deliveries_event_channel"),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["next_attempt_at"], postgresql_where="status = 'pending'")
    op.create_index("ix_deliveries_notification", "deliveries", ["notification_id"])
    op.create_table(
        "recipients",
        sa.Column("recipient", sa.String(160), primary_key=True),
        sa.Column("email", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("channels", JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("recipients", "deliveries", "notifications"):
        op.drop_table(table)
    drop_audit_log()
    for table in ("idempotency_keys", "processed_events", "outbox"):
        op.drop_table(table)
