"""Every licence version carries an SM2 document: the versions issued before 0004 get theirs from the
backfill job (licences.service.sm2backfill), which finds them through these partial indexes — empty once
it has run, so its periodic run reads nothing.

Revision ID: 0005_sm2_backfill
Revises: 0004_sm2_signatures
Create Date: 2026-12-07
"""
from alembic import op

revision = "0005_sm2_backfill"
down_revision = "0004_sm2_signatures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_licences_sm2_missing", "licences", ["id"], unique=False,
                    postgresql_where="sm2_document IS NULL")
    op.create_index("ix_licence_versions_sm2_missing", "licence_versions", ["licence_id"], unique=False,
                    postgresql_where="sm2_document IS NULL")


def downgrade() -> None:
    op.drop_index("ix_licence_versions_sm2_missing", table_name="licence_versions",
                  postgresql_where="sm2_document IS NULL")
    op.drop_index("ix_licences_sm2_missing", table_name="licences", postgresql_where="sm2_document IS NULL")
