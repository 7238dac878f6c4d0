"""Due dates counted on a provisional calendar year (kit.calendar: a year whose State Council notice
ops have not approved yet) are marked, so that they are shown as provisional and recomputed when ops
approve the year. Existing due dates were all computed on approved data (the calendar refused the
rest), so they start as final.

Revision ID: 0008_provisional_due_dates
Revises: 0007
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_provisional_due_dates"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column("applications", sa.Column("clock_due_provisional", sa.Boolean(), nullable=False,
                                            server_default=sa.false()))
    op.create_index("ix_applications_provisional_due", "applications", ["clock_due_date"],
                    postgresql_where=sa.text("clock_due_provisional"))


def downgrade() -> None:
    op.drop_index("ix_applications_provisional_due", table_name="applications")
    op.drop_column("applications", "clock_due_provisional")
