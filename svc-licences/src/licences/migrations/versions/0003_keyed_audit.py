"""The audit chain becomes keyed (kit.audit): each new entry is an HMAC-SHA256 under a chain key kept
outside the database, named by its key id, and records the actor's department. Entries already
there keep their SHA-256 and verify as before up to this switch point.

Revision ID: 0003_keyed_audit
Revises: 0002
Create Date: 2026-12-06
"""
from kit.audit import key_audit_log, unkey_audit_log

revision = "0003_keyed_audit"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    key_audit_log()


def downgrade() -> None:
    unkey_audit_log()
