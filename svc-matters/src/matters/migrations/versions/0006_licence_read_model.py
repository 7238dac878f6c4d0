"""The licences svc-licences has issued (``known_licences``), read from its events, so that a material
exempted by a licence (两个免于提交) is accepted only when the applicant really holds a licence of a
type that may stand in for it, valid and in force. The consumer reads the licences stream from its
start, so the licences issued before this revision are filled in as soon as the service runs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "known_licences",
        sa.Column("licence_id", sa.String(64), primary_key=True),
        sa.Column("licence_number", sa.String(128), nullable=False),
        sa.Column("identifier", sa.String(128), nullable=True),
        sa.Column("licence_type", sa.String(128), nullable=False),
        sa.Column("licence_type_code", sa.String(32), nullable=True),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("holder_subject", sa.String(128), nullable=False),
        sa.Column("holder_org_code", sa.String(32), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_known_licences_number", "known_licences", ["licence_number"])
    op.create_index("ix_known_licences_identifier", "known_licences", ["identifier"])


def downgrade() -> None:
    op.drop_index("ix_known_licences_identifier", table_name="known_licences")
    op.drop_index("ix_known_licences_number", table_name="known_licences")
    op.drop_table("known_licences")
