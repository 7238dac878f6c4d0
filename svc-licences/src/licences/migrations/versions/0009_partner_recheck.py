"""长三角: recognised partner documents are re-checked against their partners' status lists on a schedule.
``recognitions`` keeps each document's end of validity and the status last seen (announced once per change).

Revision ID: 0009_partner_recheck
Revises: 0008_onecode_import
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_partner_recheck"
down_revision = "0008_onecode_import"
branch_labels = None
depends_on = None

RECHECKED = "result = 'recognised' AND claims -> 'status' IS NOT NULL"


def upgrade() -> None:
    op.add_column("recognitions", sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("recognitions", sa.Column("partner_status", sa.String(length=16), server_default="active",
                                            nullable=False))
    op.add_column("recognitions", sa.Column("status_checked_at", sa.DateTime(timezone=True), nullable=True))
    # Recognitions made before: the end of validity of an SD-JWT VC (``exp``, seconds); an SM2 document's
    # (ISO text) is left empty here and filled by the first re-check (``partner_recheck.due``).
    op.execute(sa.text("UPDATE recognitions SET valid_until = to_timestamp((claims ->> 'exp')::double precision) "
                       "WHERE jsonb_typeof(claims -> 'exp') = 'number'"))
    op.create_index("ix_recognitions_recheck", "recognitions", ["valid_until"], postgresql_where=sa.text(RECHECKED))


def downgrade() -> None:
    op.drop_index("ix_recognitions_recheck", table_name="recognitions")
    op.drop_column("recognitions", "status_checked_at")
    op.drop_column("recognitions", "partner_status")
    op.drop_column("recognitions", "valid_until")
