"""Help tickets, SLA clocks and policies, agents, hotline transfers, ratings and rectifications,
halls, bookings and queue visits, calendar submissions; the starting SLA policies; the hash-chained
audit log of staff actions (``kit.audit``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kit.audit import create_audit_log, drop_audit_log

# The plan's promise (专业人工帮办): a response within 1 minute; resolution within a working day
# (half a day when urgent, two for hotline transfers, which reach a department already escalated).
STARTING_POLICIES = [
    {"id": "default", "name": "专业人工帮办 默认", "channel": None, "priority": None,
     "resolution": {"amount": 1, "unit": "working_days"}},
    {"id": "hotline", "name": "12345 转接", "channel": "hotline", "priority": None,
     "resolution": {"amount": 2, "unit": "working_days"}},
    {"id": "urgent", "name": "紧急", "channel": None, "priority": "urgent",
     "resolution": {"amount": 4, "unit": "working_hours"}},
]

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agents',
    sa.Column('subject', sa.String(length=128), nullable=False),
    sa.Column('department', sa.String(length=200), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('max_open', sa.Integer(), nullable=False),
    sa.Column('last_assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('subject', name=op.f('pk_agents'))
    )
    op.create_table('calendar_submissions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('document', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('submitted_by', sa.String(length=128), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by', sa.String(length=128), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('kv_revision', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_submissions'))
    )
    op.create_index(op.f('ix_calendar_submissions_year'), 'calendar_submissions', ['year'], unique=False)
    op.create_table('halls',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('district', sa.String(length=64), nullable=True),
    sa.Column('windows', sa.Integer(), nullable=False),
    sa.Column('opening_periods', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('open_on_rest_days', sa.Boolean(), nullable=False),
    sa.Column('slot_minutes', sa.Integer(), nullable=False),
    sa.Column('slot_capacity', sa.Integer(), nullable=False),
    sa.Column('daily_cap_per_person', sa.Integer(), nullable=False),
    sa.Column('matters', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_halls'))
    )
    op.create_table('hotline_transfers',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('department', sa.String(length=200), nullable=False),
    sa.Column('matter_code', sa.String(length=32), nullable=True),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('connected', sa.Boolean(), nullable=False),
    sa.Column('wait_seconds', sa.Integer(), nullable=False),
    sa.Column('agent_subject', sa.String(length=128), nullable=True),
    sa.Column('ticket_id', sa.String(length=64), nullable=True),
    sa.Column('recorded_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hotline_transfers'))
    )
    op.create_index('ix_hotline_transfers_attempted', 'hotline_transfers', ['attempted_at'], unique=False)
    op.create_index(op.f('ix_hotline_transfers_call_id'), 'hotline_transfers', ['call_id'], unique=False)
    op.create_table('ratings',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('target_kind', sa.String(length=24), nullable=False),
    sa.Column('target_id', sa.String(length=100), nullable=False),
    sa.Column('rater_subject', sa.String(length=128), nullable=False),
    sa.Column('score', sa.SmallInteger(), nullable=False),
    sa.Column('tags', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('matter_code', sa.String(length=32), nullable=True),
    sa.Column('department', sa.String(length=200), nullable=True),
    sa.Column('agent_subject', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ratings')),
    sa.UniqueConstraint('target_kind', 'target_id', 'rater_subject', name=op.f('uq_ratings_target_kind_target_id_rater_subject'))
    )
    op.create_index('ix_ratings_created', 'ratings', ['created_at'], unique=False)
    op.create_table('sla_policies',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('matter_code', sa.String(length=32), nullable=True),
    sa.Column('priority', sa.String(length=16), nullable=True),
    sa.Column('first_response', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('next_response', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('resolution', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('warn_percent', sa.Integer(), nullable=False),
    sa.Column('escalation_percents', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_policies'))
    )
    op.create_table('tickets',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('matter_code', sa.String(length=32), nullable=True),
    sa.Column('department', sa.String(length=200), nullable=False),
    sa.Column('subject_text', sa.Text(), nullable=False),
    sa.Column('applicant_subject', sa.String(length=128), nullable=True),
    sa.Column('contact_name', sa.Text(), nullable=True),
    sa.Column('contact_phone', sa.Text(), nullable=True),
    sa.Column('application_id', sa.String(length=64), nullable=True),
    sa.Column('conversation_id', sa.String(length=64), nullable=True),
    sa.Column('policy_id', sa.String(length=64), nullable=False),
    sa.Column('assigned_agent', sa.String(length=128), nullable=True),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_response_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reopen_count', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets'))
    )
    op.create_index('ix_tickets_applicant', 'tickets', ['applicant_subject', 'created_at'], unique=False)
    op.create_index('ix_tickets_created', 'tickets', ['created_at'], unique=False)
    op.create_index('ix_tickets_department_status', 'tickets', ['department', 'status'], unique=False)
    op.create_index('ix_tickets_queue', 'tickets', ['assigned_agent', 'due_at'], unique=False)
    op.create_table('appointments',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('hall_id', sa.String(length=64), nullable=False),
    sa.Column('matter_code', sa.String(length=32), nullable=False),
    sa.Column('applicant_subject', sa.String(length=128), nullable=False),
    sa.Column('slot_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['hall_id'], ['halls.id'], name=op.f('fk_appointments_hall_id_halls')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments'))
    )
    op.create_index('ix_appointments_person_day', 'appointments', ['applicant_subject', 'local_day'], unique=False)
    op.create_table('hall_slots',
    sa.Column('hall_id', sa.String(length=64), nullable=False),
    sa.Column('slot_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('booked', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['hall_id'], ['halls.id'], name=op.f('fk_hall_slots_hall_id_halls')),
    sa.PrimaryKeyConstraint('hall_id', 'slot_start', name=op.f('pk_hall_slots'))
    )
    op.create_table('rectifications',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('rating_id', sa.String(length=64), nullable=False),
    sa.Column('department', sa.String(length=200), nullable=False),
    sa.Column('owner_subject', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('replied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('measures', sa.Text(), nullable=True),
    sa.Column('rectified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('follow_up', sa.Text(), nullable=True),
    sa.Column('satisfied', sa.Boolean(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['rating_id'], ['ratings.id'], name=op.f('fk_rectifications_rating_id_ratings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rectifications')),
    sa.UniqueConstraint('rating_id', name=op.f('uq_rectifications_rating_id'))
    )
    op.create_index('ix_rectifications_status_due', 'rectifications', ['status', 'due_on'], unique=False)
    op.create_table('sla_clocks',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('target_seconds', sa.Float(), nullable=False),
    sa.Column('warn_percent', sa.Integer(), nullable=False),
    sa.Column('escalation_percents', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('segment_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('elapsed_before', sa.Float(), nullable=False),
    sa.Column('paused_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('elapsed_seconds', sa.Float(), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_alert_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('alerted_percent', sa.Integer(), nullable=False),
    sa.Column('breached_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_sla_clocks_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_clocks'))
    )
    op.create_index('ix_sla_clocks_alert', 'sla_clocks', ['next_alert_at'], unique=False, postgresql_where='stopped_at IS NULL AND paused_since IS NULL')
    op.create_index('ix_sla_clocks_running', 'sla_clocks', ['id'], unique=False, postgresql_where='stopped_at IS NULL')
    op.create_index('ix_sla_clocks_ticket', 'sla_clocks', ['ticket_id', 'kind', 'cycle'], unique=False)
    op.create_table('ticket_messages',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.String(length=64), nullable=False),
    sa.Column('author_subject', sa.String(length=128), nullable=True),
    sa.Column('author_kind', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_messages_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_messages'))
    )
    op.create_index(op.f('ix_ticket_messages_ticket_id'), 'ticket_messages', ['ticket_id'], unique=False)
    op.create_table('ticket_steps',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('status_before', sa.String(length=24), nullable=True),
    sa.Column('status_after', sa.String(length=24), nullable=False),
    sa.Column('actor_subject', sa.String(length=128), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_steps_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_steps'))
    )
    op.create_index(op.f('ix_ticket_steps_ticket_id'), 'ticket_steps', ['ticket_id'], unique=False)
    op.create_table('visits',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('hall_id', sa.String(length=64), nullable=False),
    sa.Column('local_day', sa.Date(), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('matter_code', sa.String(length=32), nullable=False),
    sa.Column('complexity', sa.String(length=16), nullable=False),
    sa.Column('visitor_subject', sa.String(length=128), nullable=True),
    sa.Column('appointment_id', sa.String(length=64), nullable=True),
    sa.Column('priority_reason', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('called_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('window', sa.Integer(), nullable=True),
    sa.Column('officer_subject', sa.String(length=128), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['hall_id'], ['halls.id'], name=op.f('fk_visits_hall_id_halls')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits')),
    sa.UniqueConstraint('hall_id', 'local_day', 'number', name=op.f('uq_visits_hall_id_local_day_number'))
    )
    op.create_index('ix_visits_checked_in', 'visits', ['checked_in_at'], unique=False)
    op.create_index('ix_visits_queue', 'visits', ['hall_id', 'local_day', 'status', 'checked_in_at'], unique=False)
    op.create_table('sla_clock_pauses',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('clock_id', sa.BigInteger(), nullable=False),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resumed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['clock_id'], ['sla_clocks.id'], name=op.f('fk_sla_clock_pauses_clock_id_sla_clocks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_clock_pauses'))
    )
    op.create_index(op.f('ix_sla_clock_pauses_clock_id'), 'sla_clock_pauses', ['clock_id'], unique=False)
    policies = sa.table("sla_policies", sa.column("id"), sa.column("name"), sa.column("channel"),
                        sa.column("matter_code"), sa.column("priority"), sa.column("first_response", postgresql.JSONB),
                        sa.column("next_response", postgresql.JSONB), sa.column("resolution", postgresql.JSONB),
                        sa.column("warn_percent"), sa.column("escalation_percents", postgresql.JSONB),
                        sa.column("active"))
    create_audit_log()
    op.bulk_insert(policies, [
        {**p, "matter_code": None, "first_response": {"amount": 60, "unit": "seconds"},
         "next_response": {"amount": 60, "unit": "seconds"}, "warn_percent": 80, "escalation_percents": [150, 200],
         "active": True}
        for p in STARTING_POLICIES])


def downgrade() -> None:
    drop_audit_log()
    op.drop_index(op.f('ix_sla_clock_pauses_clock_id'), table_name='sla_clock_pauses')
    op.drop_table('sla_clock_pauses')
    op.drop_index('ix_visits_queue', table_name='visits')
    op.drop_index('ix_visits_checked_in', table_name='visits')
    op.drop_table('visits')
    op.drop_index(op.f('ix_ticket_steps_ticket_id'), table_name='ticket_steps')
    op.drop_table('ticket_steps')
    op.drop_index(op.f('ix_ticket_messages_ticket_id'), table_name='ticket_messages')
    op.drop_table('ticket_messages')
    op.drop_index('ix_sla_clocks_ticket', table_name='sla_clocks')
    op.drop_index('ix_sla_clocks_running', table_name='sla_clocks', postgresql_where='stopped_at IS NULL')
    op.drop_index('ix_sla_clocks_alert', table_name='sla_clocks', postgresql_where='stopped_at IS NULL AND paused_since IS NULL')
    op.drop_table('sla_clocks')
    op.drop_index('ix_rectifications_status_due', table_name='rectifications')
    op.drop_table('rectifications')
    op.drop_table('hall_slots')
    op.drop_index('ix_appointments_person_day', table_name='appointments')
    op.drop_table('appointments')
    op.drop_index('ix_tickets_queue', table_name='tickets')
    op.drop_index('ix_tickets_department_status', table_name='tickets')
    op.drop_index('ix_tickets_created', table_name='tickets')
    op.drop_index('ix_tickets_applicant', table_name='tickets')
    op.drop_table('tickets')
    op.drop_table('sla_policies')
    op.drop_index('ix_ratings_created', table_name='ratings')
    op.drop_table('ratings')
    op.drop_index(op.f('ix_hotline_transfers_call_id'), table_name='hotline_transfers')
    op.drop_index('ix_hotline_transfers_attempted', table_name='hotline_transfers')
    op.drop_table('hotline_transfers')
    op.drop_table('halls')
    op.drop_index(op.f('ix_calendar_submissions_year'), table_name='calendar_submissions')
    op.drop_table('calendar_submissions')
    op.drop_table('agents')
