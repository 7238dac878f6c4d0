"""Licences signed with SM2 as well (issue 19): every licence version keeps its SM2 document (JSON text,
encrypted like the credential: it holds the holder's name and code), and a partner issuer on the trust
list may have SM2 public keys beside (or instead of) its JWKS. Licences issued before keep no SM2
document until their next version.

Revision ID: 0004_sm2_signatures
Revises: 0003_keyed_audit
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_sm2_signatures"
down_revision = "0003_keyed_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("licences", sa.Column("sm2_document", sa.Text(), nullable=True))
    op.add_column("licence_versions", sa.Column("sm2_document", sa.Text(), nullable=True))
    op.add_column("trusted_issuers", sa.Column("sm2_keys", postgresql.JSONB(astext_type=sa.Text()),
                                               server_default=sa.text("'[]'::jsonb"), nullable=False))


def downgrade() -> None:
    op.drop_column("trusted_issuers", "sm2_keys")
    op.drop_column("licence_versions", "sm2_document")
    op.drop_column("licences", "sm2_document")
