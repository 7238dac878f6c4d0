"""长三角 partner self-service: partners register their issuer with a ``jwks_uri`` (four-eyes approval by ops),
the platform fetches and refreshes their keys into the trust list, and the trust list is versioned.

Revision ID: 0006_partner_self_service
Revises: 0005_sm2_backfill
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_partner_self_service"
down_revision = "0005_sm2_backfill"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name, column_type in (("jwks_uri", sa.String(500)), ("sm2_keys_uri", sa.String(500)),
                              ("status_list_base", sa.String(500)), ("registration_id", sa.String(32)),
                              ("keys_fetched_at", sa.DateTime(timezone=True)),
                              ("keys_checked_at", sa.DateTime(timezone=True)),
                              ("keys_refresh_at", sa.DateTime(timezone=True)),
                              ("keys_fetch_error", sa.String(300))):
        op.add_column("trusted_issuers", sa.Column(name, column_type, nullable=True))
    op.create_index("ix_trusted_issuers_keys_refresh_at", "trusted_issuers", ["keys_refresh_at"])
    op.create_table(
        "partner_registrations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("province", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("issuer", sa.String(300), nullable=False),
        sa.Column("jwks_uri", sa.String(500), nullable=False),
        sa.Column("sm2_keys_uri", sa.String(500), nullable=True),
        sa.Column("status_list_base", sa.String(500), nullable=True),
        sa.Column("sm2_keys", postgresql.JSONB(), nullable=False),
        sa.Column("document_types", postgresql.JSONB(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("trusted_issuer_id", sa.String(32), nullable=True),
    )
    op.create_index("ux_partner_registrations_pending", "partner_registrations", ["issuer"], unique=True,
                    postgresql_where=sa.text("state = 'pending'"))
    op.create_table(
        "trust_list_versions",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trust_list_versions")
    op.drop_index("ux_partner_registrations_pending", table_name="partner_registrations",
                  postgresql_where=sa.text("state = 'pending'"))
    op.drop_table("partner_registrations")
    op.drop_index("ix_trusted_issuers_keys_refresh_at", table_name="trusted_issuers")
    for name in ("keys_fetch_error", "keys_refresh_at", "keys_checked_at", "keys_fetched_at", "registration_id",
                 "status_list_base", "sm2_keys_uri", "jwks_uri"):
        op.drop_column("trusted_issuers", name)
