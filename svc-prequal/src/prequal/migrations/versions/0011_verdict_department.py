"""Each verdict keeps the department handling its application, so staff of other departments do not
read it (as svc-matters scopes the application). Verdicts given before submissions carried the
department stay NULL until their application's next status change names it; meanwhile only staff
who see every department read them.

Revision ID: 0011_verdict_department
Revises: 0010_keyed_audit
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0011_verdict_department"
down_revision = "0010_keyed_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("verdicts", sa.Column("department", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("verdicts", "department")
