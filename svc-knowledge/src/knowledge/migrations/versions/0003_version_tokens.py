"""Retrieval tokens stored with each published version, so a replica rebuilds its index without
segmenting every entry again; the platform's append-only audit log (kit.audit), as every service has.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kit.audit import create_audit_log, drop_audit_log

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("entry_versions", sa.Column("tokens", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    create_audit_log()


def downgrade() -> None:
    drop_audit_log()
    op.drop_column("entry_versions", "tokens")
