"""Catalogue of matters, applications and their timeline, and the platform tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from kit.migrations import create_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables()
    op.create_table(
        "matter_versions",
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("is_current", sa.Boolean, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("complexity", sa.String(16), nullable=False),
        sa.Column("statutory_days", sa.Integer, nullable=False),
        sa.Column("promised_days", sa.Integer, nullable=False),
        sa.Column("fee", JSONB, nullable=False),
        sa.Column("legal_basis", JSONB, nullable=False),
        sa.Column("conditions_zh", JSONB, nullable=False),
        sa.Column("channels", JSONB, nullable=False),
        sa.Column("help_video_url", sa.Text),
        sa.Column("licence_type", sa.String(100)),
        sa.Column("fields", JSONB, nullable=False),
        sa.Column("materials", JSONB, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("code", "version", name="pk_matter_versions"),
        sa.CheckConstraint("kind IN ('licence', 'filing')", name=op.f("ck_matter_versions_kind")),
        sa.CheckConstraint("promised_days <= statutory_days", name=op.f("ck_matter_versions_promise")),
    )
    op.create_index("uq_matter_versions_current", "matter_versions", ["code"], unique=True,
                    postgresql_where=sa.text("is_current"))
    op.create_table(
        "applications",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("matter_code", sa.String(32), nullable=False),
        sa.Column("matter_version", sa.Integer, nullable=False),
        sa.Column("applicant_subject", sa.String(128), nullable=False),
        sa.Column("applicant_kind", sa.String(16), nullable=False),
        sa.Column("applicant_org_code", sa.String(32)),
        sa.Column("form", JSONB, nullable=False),
        sa.Column("materials", JSONB, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("submitted_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(["matter_code", "matter_version"], ["matter_versions.code", "matter_versions.version"],
                                name="fk_applications_matter_version"),
    )
    op.create_index("ix_applications_applicant_created", "applications", ["applicant_subject", "created_at", "id"])
    op.create_index("ix_applications_created", "applications", ["created_at", "id"])
    op.create_index("ix_applications_status", "applications", ["status"])
    op.create_table(
        "application_steps",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("application_id", sa.String(32), sa.ForeignKey("applications.id", name="fk_application_steps_application_id_applications"), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor_subject", sa.String(128), nullable=False),
        sa.Column("actor_role", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("details", JSONB, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_application_steps_application_id", "application_steps", ["application_id", "id"])
    # The timeline is append-only: history is never rewritten, whatever the code does.
    op.execute("""
        CREATE FUNCTION application_steps_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'application_steps is append-only'; END $$;
    """)
    op.execute("""
        CREATE TRIGGER application_steps_append_only BEFORE UPDATE OR DELETE ON application_steps
        FOR EACH ROW EXECUTE FUNCTION application_steps_append_only();
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER application_steps_append_only ON application_steps")
    op.execute("DROP FUNCTION application_steps_append_only()")
    for table in ("application_steps", "applications", "matter_versions", "idempotency_keys", "processed_events", "outbox"):
        op.drop_table(table)
