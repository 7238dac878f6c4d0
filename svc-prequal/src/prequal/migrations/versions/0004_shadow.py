"""Shadow mode of rule-set versions and the read models of the automatic data comparison (数据比对).

Revision ID: 0004_shadow
Revises: 0002
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004_shadow"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ruleset_shadows",
        sa.Column("matter_code", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("started_by", sa.String(128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "shadow_verdicts",
        sa.Column("application_id", sa.String(64), primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("shadow_version", sa.Integer, primary_key=True),
        sa.Column("matter_code", sa.String(32), nullable=False),
        sa.Column("active_ruleset", sa.String(64), nullable=False),
        sa.Column("active_verdict", sa.String(24), nullable=False),
        sa.Column("shadow_verdict", sa.String(24), nullable=False),
        sa.Column("results", JSONB, nullable=False),
        sa.Column("differing_rules", JSONB, nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_shadow_verdicts_matter_version", "shadow_verdicts", ["matter_code", "shadow_version"])
    op.create_table(
        "known_licences",
        sa.Column("licence_id", sa.String(64), primary_key=True),
        sa.Column("licence_number", sa.String(64), nullable=False),
        sa.Column("licence_type", sa.String(64), nullable=False),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("holder_subject", sa.String(128), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "known_applications",
        sa.Column("application_id", sa.String(64), primary_key=True),
        sa.Column("matter_code", sa.String(32), nullable=False),
        sa.Column("applicant_subject", sa.String(128), nullable=False),
        sa.Column("applicant_key", sa.String(64), nullable=True),
        sa.Column("object_key", sa.String(400), nullable=True),
        sa.Column("object_label", sa.String(400), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_submitted_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_known_applications_object", "known_applications",
                    ["applicant_subject", "matter_code", "object_key"])


def downgrade() -> None:
    op.drop_index("ix_known_applications_object", table_name="known_applications")
    op.drop_table("known_applications")
    op.drop_table("known_licences")
    op.drop_index("ix_shadow_verdicts_matter_version", table_name="shadow_verdicts")
    op.drop_table("shadow_verdicts")
    op.drop_table("ruleset_shadows")
