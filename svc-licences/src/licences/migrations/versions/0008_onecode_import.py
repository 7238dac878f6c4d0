"""一人（企）一码 and 应归尽归 (issue 21): the read model of every application's status (the open applications a
scanned code shows), the codes holders generate and every scan of them, and the bulk imports of licences issued
before the platform with each line's outcome.

Revision ID: 0008_onecode_import
Revises: 0007_partner_lookup_feed
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_onecode_import"
down_revision = "0007_partner_lookup_feed"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "holder_applications",
        sa.Column("application_id", sa.String(64), primary_key=True),
        sa.Column("matter_code", sa.String(32), nullable=False),
        sa.Column("applicant_subject", sa.String(128), nullable=False),
        sa.Column("applicant_org_code", sa.String(32), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("submitted_at", TZ, nullable=False),
        sa.Column("status_at", TZ, nullable=False),
    )
    op.create_index("ix_holder_applications_subject", "holder_applications", ["applicant_subject"])
    op.create_index("ix_holder_applications_org", "holder_applications", ["applicant_org_code"],
                    postgresql_where="applicant_org_code IS NOT NULL")
    op.create_table(
        "holder_codes",
        sa.Column("cti", sa.String(32), primary_key=True),
        sa.Column("holder_subject", sa.String(128), nullable=False),
        sa.Column("holder_kind", sa.String(32), nullable=False),
        sa.Column("holder_name", sa.Text(), nullable=True),
        sa.Column("holder_org_code", sa.String(32), nullable=True),
        sa.Column("consent", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
    )
    op.create_index("ix_holder_codes_holder", "holder_codes", ["holder_subject", "created_at"])
    op.create_table(
        "holder_code_scans",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("cti", sa.String(32), nullable=True),
        sa.Column("holder_subject", sa.String(128), nullable=True),
        sa.Column("scanned_by", sa.String(128), nullable=False),
        sa.Column("scanned_by_name", sa.String(200), nullable=True),
        sa.Column("result", sa.String(32), nullable=False),
        sa.Column("shown", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("at", TZ, server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_holder_code_scans_holder", "holder_code_scans", ["holder_subject", "at"])
    op.create_table(
        "licence_imports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), server_default="0", nullable=False),
        sa.Column("already_imported", sa.Integer(), server_default="0", nullable=False),
        sa.Column("invalid", sa.Integer(), server_default="0", nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
    )
    op.create_table(
        "licence_import_lines",
        sa.Column("import_id", sa.String(32), sa.ForeignKey("licence_imports.id"), primary_key=True),
        sa.Column("line", sa.Integer(), primary_key=True),
        sa.Column("licence_number", sa.String(64), nullable=True),
        sa.Column("result", sa.String(20), nullable=False),
        sa.Column("licence_id", sa.String(32), nullable=True),
        sa.Column("errors", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"),
                  nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
    )
    op.create_index("ix_licence_import_lines_issued", "licence_import_lines", ["licence_number"], unique=True,
                    postgresql_where="result = 'issued'")
    op.create_index("ix_licence_import_lines_pending", "licence_import_lines", ["import_id", "line"],
                    postgresql_where="result = 'pending'")


def downgrade() -> None:
    op.drop_table("licence_import_lines")
    op.drop_table("licence_imports")
    op.drop_table("holder_code_scans")
    op.drop_table("holder_codes")
    op.drop_table("holder_applications")
