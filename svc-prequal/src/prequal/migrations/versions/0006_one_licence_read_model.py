"""One read model of licences issued: pre-fill reads the comparison's ``known_licences`` instead of
keeping ``prefill_licences``, a second copy of the same events.

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
    op.alter_column("known_licences", "licence_number", type_=sa.String(128))
    op.alter_column("known_licences", "licence_type", type_=sa.String(128))
    op.add_column("known_licences", sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False,
                                              server_default=sa.text("now()")))
    op.create_index("ix_known_licences_holder", "known_licences", ["holder_subject"])
    op.execute("""
        INSERT INTO known_licences (licence_id, licence_number, licence_type, application_id, holder_subject,
                                    issued_at, observed_at)
        SELECT licence_id, licence_number, licence_type, application_id, holder_subject, issued_at, observed_at
        FROM prefill_licences ON CONFLICT (licence_id) DO NOTHING
    """)
    op.drop_index("ix_prefill_licences_holder", table_name="prefill_licences")
    op.drop_table("prefill_licences")


def downgrade() -> None:
    op.create_table(
        "prefill_licences",
        sa.Column("licence_id", sa.String(64), primary_key=True),
        sa.Column("licence_number", sa.String(128), nullable=False),
        sa.Column("licence_type", sa.String(128), nullable=False),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("holder_subject", sa.String(128), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )
    op.create_index("ix_prefill_licences_holder", "prefill_licences", ["holder_subject"])
    op.execute("""
        INSERT INTO prefill_licences SELECT licence_id, licence_number, licence_type, application_id, holder_subject,
                                            issued_at, observed_at FROM known_licences
    """)
    op.drop_index("ix_known_licences_holder", table_name="known_licences")
    op.drop_column("known_licences", "observed_at")
    op.alter_column("known_licences", "licence_type", type_=sa.String(64))
    op.alter_column("known_licences", "licence_number", type_=sa.String(64))
