"""长三角: recognised partner documents stand in for materials (两个免于提交 across provinces) through the
licence read model (``kit.licence_read_model``): ``known_licences`` gains ``partner_province``, set on
the rows of recognised partner documents and empty on the bureau's own licences.

Revision ID: 0014_recognised_materials
Revises: 0013_catalogue_generation
Create Date: 2026-12-07
"""
from alembic import op

from kit.licence_read_model import TABLE, complete_table

revision = "0014_recognised_materials"
down_revision = "0013_catalogue_generation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    complete_table()


def downgrade() -> None:
    op.drop_column(TABLE, "partner_province")
