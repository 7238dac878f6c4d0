"""The platform tables (outbox, processed events, idempotency keys).

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""
from alembic import op

from kit.migrations import create_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables()


def downgrade() -> None:
    for table in ("idempotency_keys", "processed_events", "outbox"):
        op.drop_table(table)
