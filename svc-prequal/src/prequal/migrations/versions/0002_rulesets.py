"""Rule sets as data (审查规则指标化), the matter-requirements read model, per-rule results on verdicts.

Seeds version 1 of every shipped rule set (``prequal/rulesets/*.json``) as the active one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rulesets = op.create_table(
        "rulesets",
        sa.Column("matter_code", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rules", JSONB, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'active', 'retired')", name=op.f("ck_rulesets_status")),
    )
    op.create_index("uq_rulesets_one_active", "rulesets", ["matter_code"], unique=True,
                    postgresql_where=sa.text("status = 'active'"))
    op.create_table(
        "matter_requirements",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("requirements", JSONB, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.drop_constraint(op.f("ck_verdicts_verdict"), "verdicts", type_="check")
    op.alter_column("verdicts", "verdict", type_=sa.String(24), existing_nullable=False)
    op.create_check_constraint(op.f("ck_verdicts_verdict"), "verdicts",
                               "verdict IN ('passed', 'returned', 'needs_human_review')")
    op.add_column("verdicts", sa.Column("ruleset_version", sa.Integer, nullable=True))
    op.add_column("verdicts", sa.Column("results", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")))
    op.add_column("verdicts", sa.Column("inputs", JSONB, nullable=True))

    from datetime import UTC, datetime

    from prequal.service.rules import shipped_rulesets
    now = datetime.now(UTC)
    op.bulk_insert(rulesets, [
        {"matter_code": code, "version": doc["version"], "status": "active", "rules": doc["rules"],
         "created_by": "seed:prequal/rulesets", "created_at": now, "published_at": now}
        for code, doc in sorted(shipped_rulesets().items())
    ])


def downgrade() -> None:
    op.drop_column("verdicts", "inputs")
    op.drop_column("verdicts", "results")
    op.drop_column("verdicts", "ruleset_version")
    op.drop_constraint(op.f("ck_verdicts_verdict"), "verdicts", type_="check")
    op.execute("DELETE FROM verdicts WHERE verdict = 'needs_human_review'")
    op.alter_column("verdicts", "verdict", type_=sa.String(16), existing_nullable=False)
    op.create_check_constraint(op.f("ck_verdicts_verdict"), "verdicts", "verdict IN ('passed', 'returned')")
    op.drop_table("matter_requirements")
    op.drop_index("uq_rulesets_one_active", table_name="rulesets")
    op.drop_table("rulesets")
