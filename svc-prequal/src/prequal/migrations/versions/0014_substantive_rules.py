"""The substantive rules (实质性审查规则) of the 18 matters: version 2 of every shipped rule set
(``prequal/rulesets/v2/*.json``: version 1 with the rules of each matter's legal basis,
``prequal.service.substantive``), numbered after the matter's highest version.

Where the active version is still the one seeded by revision 0002, version 2 is published in its place
(the seed retired). Where staff have published a version of their own, their rules stay active and the
shipped version is added as a draft for them to try (``…/versions/{n}/test``, shadow mode) and publish.
Downgrade removes the versions this revision added and re-activates the seeded one where none is active.

Revision ID: 0014_substantive_rules
Revises: 0013_recognised_materials
Create Date: 2026-12-07
"""
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0014_substantive_rules"
down_revision = "0013_recognised_materials"
branch_labels = None
depends_on = None

SEEDED_BY = "seed:prequal/rulesets"
ADDED_BY = "seed:prequal/rulesets/v2"


def upgrade() -> None:
    from prequal.service.rules import shipped_rulesets

    bind = op.get_bind()
    now = datetime.now(UTC)
    for code, doc in sorted(shipped_rulesets(2).items()):
        active = bind.execute(sa.text("SELECT version, created_by FROM rulesets WHERE matter_code = :code "
                                      "AND status = 'active'"), {"code": code}).first()
        latest = bind.execute(sa.text("SELECT coalesce(max(version), 0) FROM rulesets WHERE matter_code = :code"),
                              {"code": code}).scalar_one()
        publish = active is None or active.created_by == SEEDED_BY
        if publish and active is not None:
            bind.execute(sa.text("UPDATE rulesets SET status = 'retired', retired_at = :now "
                                 "WHERE matter_code = :code AND status = 'active'"), {"code": code, "now": now})
        bind.execute(sa.text("INSERT INTO rulesets (matter_code, version, status, rules, created_by, created_at, "
                             "published_at) VALUES (:code, :version, :status, CAST(:rules AS jsonb), :by, :now, :published)"),
                     {"code": code, "version": latest + 1, "status": "active" if publish else "draft",
                      "rules": json.dumps(doc["rules"], ensure_ascii=False), "by": ADDED_BY, "now": now,
                      "published": now if publish else None})


def downgrade() -> None:
    op.execute(f"DELETE FROM ruleset_shadows s USING rulesets r WHERE r.matter_code = s.matter_code "
               f"AND r.version = s.version AND r.created_by = '{ADDED_BY}'")
    op.execute(f"DELETE FROM rulesets WHERE created_by = '{ADDED_BY}'")
    op.execute(f"UPDATE rulesets r SET status = 'active', retired_at = NULL WHERE created_by = '{SEEDED_BY}' "
               "AND NOT EXISTS (SELECT 1 FROM rulesets a WHERE a.matter_code = r.matter_code AND a.status = 'active')")
