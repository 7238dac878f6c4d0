"""Pre-fill (智能预填) and measures: read models built from events, and the pre-fills handed out.

Revision ID: 0003_prefill
Revises: 0002
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_prefill"
down_revision = "0002"
branch_labels = None
depends_on = None


def _observed() -> sa.Column:
    return sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "prefill_submissions",
        sa.Column("application_id", sa.String(64), primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("matter_code", sa.String(32), nullable=False),
        sa.Column("matter_version", sa.Integer, nullable=False),
        sa.Column("applicant_subject", sa.String(128), nullable=False),
        sa.Column("applicant_org_code", sa.String(32), nullable=True),
        sa.Column("form", JSONB, nullable=False),
        sa.Column("materials", JSONB, nullable=False),
        sa.Column("field_types", JSONB, nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        _observed(),
    )
    op.create_index("ix_prefill_submissions_subject", "prefill_submissions", ["applicant_subject", "submitted_at"])
    op.create_index("ix_prefill_submissions_org", "prefill_submissions", ["applicant_org_code", "submitted_at"],
                    postgresql_where=sa.text("applicant_org_code IS NOT NULL"))
    op.create_index("ix_prefill_submissions_matter", "prefill_submissions", ["matter_code", "submitted_at"])
    op.create_table(
        "prefill_licences",
        sa.Column("licence_id", sa.String(64), primary_key=True),
        sa.Column("licence_number", sa.String(128), nullable=False),
        sa.Column("licence_type", sa.String(128), nullable=False),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("holder_subject", sa.String(128), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        _observed(),
    )
    op.create_index("ix_prefill_licences_holder", "prefill_licences", ["holder_subject"])
    op.create_table(
        "prefill_status_changes",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("matter_code", sa.String(32), nullable=False),
        sa.Column("applicant_subject", sa.String(128), nullable=False),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("to_status", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        _observed(),
    )
    op.create_index("ix_prefill_status_changes_app", "prefill_status_changes", ["application_id", "occurred_at"])
    op.create_index("ix_prefill_status_changes_matter", "prefill_status_changes",
                    ["matter_code", "to_status", "occurred_at"])
    op.create_table(
        "prefills",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("applicant_subject", sa.String(128), nullable=False),
        sa.Column("applicant_org_code", sa.String(32), nullable=True),
        sa.Column("matter_code", sa.String(32), nullable=False),
        sa.Column("matter_version", sa.Integer, nullable=False),
        sa.Column("fields_total", sa.Integer, nullable=False),
        sa.Column("filled", JSONB, nullable=False),
        sa.Column("sources", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_prefills_matter", "prefills", ["matter_code", "created_at"])
    op.create_index("ix_prefills_subject", "prefills", ["applicant_subject", "matter_code", "created_at"])


def downgrade() -> None:
    for table in ("prefills", "prefill_status_changes", "prefill_licences", "prefill_submissions"):
        op.drop_table(table)
