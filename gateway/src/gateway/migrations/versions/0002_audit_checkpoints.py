"""The signed checkpoints of every service's audit chain head (kit.audit_anchor): kept here, outside
the databases whose chains they anchor, append-only.

Revision ID: 0002_audit_checkpoints
Revises: 0001
Create Date: 2026-12-06
"""
from kit.audit_anchor import create_checkpoint_table, drop_checkpoint_table

revision = "0002_audit_checkpoints"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_checkpoint_table()


def downgrade() -> None:
    drop_checkpoint_table()
