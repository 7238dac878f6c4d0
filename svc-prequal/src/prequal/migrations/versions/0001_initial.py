"""Pre-review verdicts and the platform tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from kit.migrations import create_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables()
    op.create_table(
        "verdicts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("matter_code", sa.String(32), nullable=False),
        sa.Column("matter_version", sa.Integer, nullable=False),
        sa.Column("applicant_subject", sa.String(128), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("findings", JSONB, nullable=False),
        sa.Column("ruleset", sa.String(64), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("application_id", "attempt", name="uq_verdicts_application_attempt"),
        sa.CheckConstraint("verdict IN ('passed', 'returned')", name=op.f("ck_verdicts_verdict")),
    )


def downgrade() -> None:
    for table in ("verdicts", "idempotency_keys", "processed_events", "outbox"):
        op.drop_table(table)
