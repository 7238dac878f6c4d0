"""Publish version 1 of the 18 high-volume matters from the packaged catalogue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
import json
from importlib import resources

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ("code", "name_zh", "name_en", "kind", "department", "complexity", "statutory_days", "promised_days", "fee",
           "legal_basis", "conditions_zh", "channels", "help_video_url", "licence_type", "fields", "materials")
JSON_COLUMNS = {"fee", "legal_basis", "conditions_zh", "channels", "fields", "materials"}


def upgrade() -> None:
    # Read at migration time, so this revision always seeds the catalogue as it stood when it was written:
    # later changes to the file are published as new matter versions by later revisions or the import API.
    catalogue = json.loads((resources.files("matters") / "catalogue" / "matters.json").read_text(encoding="utf-8"))
    table = sa.table("matter_versions", *(sa.column(c, JSONB) if c in JSON_COLUMNS else sa.column(c)
                                          for c in ("version", "is_current", "position", *COLUMNS)))
    rows = [{"version": 1, "is_current": True, "position": i, **{c: m.get(c) for c in COLUMNS}}
            for i, m in enumerate(catalogue, start=1)]
    op.bulk_insert(table, rows)


def downgrade() -> None:
    op.execute("DELETE FROM matter_versions WHERE version = 1")
