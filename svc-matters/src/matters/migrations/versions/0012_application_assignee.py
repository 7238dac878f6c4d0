"""Who holds an application (claim, assign, release): the assignee on the application, an index for each
handler's own queue, and the directory of handlers (window officers, reviewers) colleagues assign to.

Revision ID: 0012_application_assignee
Revises: 0011_one_licence_read_model
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012_application_assignee"
down_revision = "0011_one_licence_read_model"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("applications", sa.Column("assignee_subject", sa.String(128), nullable=True))
    op.add_column("applications", sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_applications_assignee", "applications", ["assignee_subject", "clock_due_date"],
                    postgresql_where=sa.text("assignee_subject IS NOT NULL"))
    op.create_table(
        "application_handlers",
        sa.Column("subject", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("roles", JSONB, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_application_handlers_department", "application_handlers", ["department"])


def downgrade() -> None:
    op.drop_index("ix_application_handlers_department", table_name="application_handlers")
    op.drop_table("application_handlers")
    op.drop_index("ix_applications_assignee", table_name="applications")
    op.drop_column("applications", "assigned_at")
    op.drop_column("applications", "assignee_subject")
