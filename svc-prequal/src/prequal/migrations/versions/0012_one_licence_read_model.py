"""One read model of the licences svc-licences issued, the same as svc-matters' (``kit.licence_read_model``):
``known_licences`` gains the licence's identifier, type code, holding company, version, status and
validity start, fed by issues and status changes. A revocation recorded in ``revoked_at`` (only ever
written by hand: no event set it) becomes the status ``revoked`` at that moment. The rows already
there are kept, as version 1 (every licence's first); the new consumer ``prequal-licences-held`` reads
the licences stream from its start and brings them up to date.

Revision ID: 0012_one_licence_read_model
Revises: 0011_verdict_department
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

from kit.licence_read_model import TABLE, complete_table

revision = "0012_one_licence_read_model"
down_revision = "0011_verdict_department"
branch_labels = None
depends_on = None

ADDED_COLUMNS = ("identifier", "licence_type_code", "holder_org_code", "version", "status", "status_at", "valid_from")
ADDED_INDEXES = ("ix_known_licences_number", "ix_known_licences_identifier")


def upgrade() -> None:
    complete_table(fill={"version": "1"})
    op.execute(f"UPDATE {TABLE} SET status = 'revoked', status_at = revoked_at WHERE revoked_at IS NOT NULL")
    op.drop_column(TABLE, "revoked_at")


def downgrade() -> None:
    op.add_column(TABLE, sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(f"UPDATE {TABLE} SET revoked_at = coalesce(status_at, observed_at) WHERE status = 'revoked'")
    for index in ADDED_INDEXES:
        op.drop_index(index, table_name=TABLE)
    for column in ADDED_COLUMNS:
        op.drop_column(TABLE, column)
