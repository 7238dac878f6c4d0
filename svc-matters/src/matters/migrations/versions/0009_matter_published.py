"""Announce every matter version already in the catalogue (``lvrong.matters.matter.published``), so that
svc-prequal knows each matter's requirements from a fresh install on, before anyone applies.

The events go through the outbox like any other: the relay publishes them when the service starts, and
the stream keeps them for consumers created later (svc-prequal's reads the stream from its start).
Event ids are derived from (code, version), so a version is announced once whatever runs this.

Revision ID: 0009_matter_published
Revises: 0008_provisional_due_dates
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009_matter_published"
down_revision = "0008_provisional_due_dates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from matters.service.catalogue import publication

    rows = op.get_bind().execute(sa.text(
        "SELECT code, version, kind, name_zh, department, fields, materials FROM matter_versions "
        "ORDER BY code, version")).all()
    outbox = sa.table("outbox", sa.column("event_id"), sa.column("subject"), sa.column("envelope", JSONB))
    envelopes = [publication(row).envelope(subject=row.code) for row in rows]
    if envelopes:
        op.bulk_insert(outbox, [{"event_id": e.id, "subject": e.type,
                                 "envelope": e.model_dump(mode="json", exclude_none=True)} for e in envelopes])


def downgrade() -> None:
    # Published events cannot be taken back; only the ones still waiting in the outbox are removed.
    op.execute("DELETE FROM outbox WHERE subject = 'lvrong.matters.matter.published' AND published_at IS NULL")
