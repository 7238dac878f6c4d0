"""One read model of the licences svc-licences issued, shared in shape with svc-prequal's
(``kit.licence_read_model``): the table gains the index on the holder that svc-prequal's pre-fill
reads by; its rows stay as they are.

Revision ID: 0011_one_licence_read_model
Revises: 0010_keyed_audit
Create Date: 2026-12-07
"""
from alembic import op

from kit.licence_read_model import TABLE, complete_table

revision = "0011_one_licence_read_model"
down_revision = "0010_keyed_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    complete_table()


def downgrade() -> None:
    op.drop_index("ix_known_licences_holder", table_name=TABLE)
