"""The data cockpit, stall detection and lists at a million applications.

- ``application_steps`` gets the application's matter, department and filing time and, on a step
  that changes the status, the seconds spent in the status it leaves (filled by
  ``lifecycle.record_step`` from now on, backfilled here from the timelines), with a partial
  covering index: the cockpit's time per stage is one index range scan per matter and period, not a
  timeline lookup per application (measured: 45 ms → a few ms for a matter-month of 4,000
  applications, 150 ms → ~10 ms for the busiest matter);
- ``ix_applications_matter_created`` covers the columns the cockpit counts, so a matter-month's
  figures come from the index alone;
- running, unpaused statutory clocks by department and filing time, with the due date inside the
  index, for the first page of a department's overdue applications; and by matter and due date,
  for the cockpit's "overdue now";
- open applications by matter and department: the cockpit's backlog, counted from the index alone;
- stalls by opening time (all, and per department): the stall list and the ranking.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

RUNNING_CLOCK = "clock_started_on IS NOT NULL AND clock_stopped_at IS NULL AND clock_paused_since IS NULL"
OPEN_STATUSES = ("status IN ('submitted', 'prereviewed', 'returned', 'accepted', 'under_review', "
                 "'correction_requested', 'approved', 'licence_issued')")
COCKPIT_COLUMNS = ["id", "status", "attempt", "submitted_at", "prereviewed_at", "accepted_at", "decided_at",
                   "clock_due_date", "clock_stopped_at", "exempted_materials"]


def upgrade() -> None:
    op.add_column("application_steps", sa.Column("matter_code", sa.String(length=32), nullable=True))
    op.add_column("application_steps", sa.Column("department", sa.String(length=200), nullable=True))
    op.add_column("application_steps", sa.Column("application_created_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("application_steps", sa.Column("from_status_seconds", sa.Float(), nullable=True))
    # Steps are append-only (trigger of 0001): the backfill adds derived columns to past steps and
    # changes nothing they recorded, so the guard is lifted for it alone, inside this transaction.
    op.execute("ALTER TABLE application_steps DISABLE TRIGGER application_steps_append_only")
    op.execute("""
        UPDATE application_steps st
           SET matter_code = a.matter_code, department = a.department, application_created_at = a.created_at
          FROM applications a
         WHERE a.id = st.application_id
    """)
    # The time between an application's consecutive status changes (an extension keeps the status).
    op.execute("""
        UPDATE application_steps st SET from_status_seconds = x.spent
          FROM (SELECT id, date_part('epoch', occurred_at - lag(occurred_at)
                                              OVER (PARTITION BY application_id ORDER BY id)) AS spent
                  FROM application_steps WHERE status IS DISTINCT FROM from_status) x
         WHERE x.id = st.id AND x.spent IS NOT NULL AND st.from_status IS NOT NULL
    """)
    op.execute("ALTER TABLE application_steps ENABLE TRIGGER application_steps_append_only")
    op.create_index("ix_application_steps_stage_times", "application_steps",
                    ["matter_code", "from_status", "application_created_at"],
                    postgresql_include=["department", "from_status_seconds"],
                    postgresql_where="from_status_seconds IS NOT NULL")
    op.drop_index("ix_applications_matter_created", table_name="applications")
    op.create_index("ix_applications_matter_created", "applications", ["matter_code", "created_at"],
                    postgresql_include=COCKPIT_COLUMNS)
    op.create_index("ix_applications_overdue_department", "applications", ["department", "created_at", "id"],
                    postgresql_include=["clock_due_date"], postgresql_where=RUNNING_CLOCK)
    op.create_index("ix_applications_overdue_matter", "applications", ["matter_code", "clock_due_date"],
                    postgresql_where=RUNNING_CLOCK)
    op.create_index("ix_applications_backlog", "applications", ["matter_code", "department"],
                    postgresql_where=OPEN_STATUSES)
    op.create_index("ix_stalls_opened", "stalls", ["opened_at", "id"])
    op.create_index("ix_stalls_department_opened", "stalls", ["department", "opened_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_stalls_department_opened", table_name="stalls")
    op.drop_index("ix_stalls_opened", table_name="stalls")
    op.drop_index("ix_applications_backlog", table_name="applications")
    op.drop_index("ix_applications_overdue_matter", table_name="applications")
    op.drop_index("ix_applications_overdue_department", table_name="applications")
    op.drop_index("ix_applications_matter_created", table_name="applications")
    op.create_index("ix_applications_matter_created", "applications", ["matter_code", "created_at"])
    op.drop_index("ix_application_steps_stage_times", table_name="application_steps")
    op.drop_column("application_steps", "from_status_seconds")
    op.drop_column("application_steps", "application_created_at")
    op.drop_column("application_steps", "department")
    op.drop_column("application_steps", "matter_code")
