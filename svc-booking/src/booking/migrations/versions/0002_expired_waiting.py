"""A waiting entry that never got a place ends as ``expired`` and no longer holds the person's one booking of the
venue and day: the partial unique index leaves it out, so the person may book another slot of that day.

Revision ID: 0002_expired_waiting
Revises: 0001_booking
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_expired_waiting"
down_revision = "0001_booking"
branch_labels = None
depends_on = None

INDEX = "uq_bookings_person_venue_day"
COLUMNS = ["venue_id", "day", "person_hash"]


def _swap(where: str) -> None:
    op.drop_index(INDEX, table_name="bookings")
    op.create_index(INDEX, "bookings", COLUMNS, unique=True, postgresql_where=sa.text(where))


def upgrade() -> None:
    _swap("status NOT IN ('cancelled', 'expired')")


def downgrade() -> None:
    # Expired entries would collide with the persons' later bookings of the day under the old rule: they
    # become cancelled, which the old index leaves out as well.
    op.execute("UPDATE bookings SET status = 'cancelled' WHERE status = 'expired'")
    _swap("status <> 'cancelled'")
