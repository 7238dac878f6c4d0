"""The person's confirmation of each answer of the assistant ("这个回答解决了您的问题吗"): one row per
answer, yes or no, and whether a "no" was handed over to a human desk. The resolution rate counts
these, no longer every answer that was not handed over (issue 21).

Revision ID: 0005_answer_confirmation
Revises: 0004_keyed_audit
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_answer_confirmation"
down_revision = "0004_keyed_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answer_confirmations",
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), primary_key=True),
        sa.Column("answer_seq", sa.Integer(), primary_key=True),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("handed_over", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("answer_confirmations")
