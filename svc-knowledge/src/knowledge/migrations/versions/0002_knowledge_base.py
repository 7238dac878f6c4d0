"""The knowledge base (entries, every version, history), assistant conversations, unanswered
questions grouped with deadlines, and the search index generation shared by replicas.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:52:45.053299
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('conversations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_subject', sa.String(length=128), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('state', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('turns', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('answered', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('handed_over', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('solved', sa.Boolean(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations'))
    )
    op.create_index('ix_conversations_created', 'conversations', ['created_at'], unique=False)
    op.create_table('entries',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('published_version', sa.Integer(), nullable=True),
    sa.Column('live', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('matter', sa.String(length=128), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('owner_department', sa.String(length=128), nullable=True),
    sa.Column('policy_effective_date', sa.Date(), nullable=True),
    sa.Column('policy_deadline', sa.Date(), nullable=True),
    sa.Column('policy_late_reported_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_inspection_due', sa.Date(), nullable=True),
    sa.Column('last_inspected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source_proposal_id', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entries')),
    sa.UniqueConstraint('source_proposal_id', name=op.f('uq_entries_source_proposal_id'))
    )
    op.create_index('ix_entries_live', 'entries', ['live'], unique=False)
    op.create_index('ix_entries_policy_deadline', 'entries', ['policy_deadline'], unique=False, postgresql_where=sa.text('policy_deadline IS NOT NULL'))
    op.create_index('ix_entries_status_updated', 'entries', ['status', 'updated_at'], unique=False)
    op.create_table('index_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_index_state'))
    )
    op.execute("INSERT INTO index_state (id, generation) VALUES (1, 0)")
    op.create_table('unanswered_groups',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('terms', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('matter', sa.String(length=128), nullable=True),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('first_asked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_asked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('entry_id', sa.String(length=64), nullable=True),
    sa.Column('resolved_by', sa.String(length=128), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unanswered_groups'))
    )
    op.create_index('ix_unanswered_groups_status_due', 'unanswered_groups', ['status', 'due_date'], unique=False)
    op.create_table('entry_history',
    sa.Column('seq', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('entry_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('changed_fields', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['entries.id'], name=op.f('fk_entry_history_entry_id_entries')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_entry_history'))
    )
    op.create_index('ix_entry_history_entry_at', 'entry_history', ['entry_id', 'at'], unique=False)
    op.create_table('entry_versions',
    sa.Column('entry_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['entries.id'], name=op.f('fk_entry_versions_entry_id_entries')),
    sa.PrimaryKeyConstraint('entry_id', 'version', name=op.f('pk_entry_versions'))
    )
    op.create_table('messages',
    sa.Column('conversation_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=True),
    sa.Column('entry_id', sa.String(length=64), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_messages_conversation_id_conversations')),
    sa.PrimaryKeyConstraint('conversation_id', 'seq', name=op.f('pk_messages'))
    )
    op.create_table('unanswered_questions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('group_id', sa.String(length=32), nullable=False),
    sa.Column('conversation_id', sa.String(length=32), nullable=True),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('asked_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['unanswered_groups.id'], name=op.f('fk_unanswered_questions_group_id_unanswered_groups')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unanswered_questions'))
    )
    op.create_index(op.f('ix_unanswered_questions_conversation_id'), 'unanswered_questions', ['conversation_id'], unique=False)
    op.create_index(op.f('ix_unanswered_questions_group_id'), 'unanswered_questions', ['group_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_unanswered_questions_group_id'), table_name='unanswered_questions')
    op.drop_index(op.f('ix_unanswered_questions_conversation_id'), table_name='unanswered_questions')
    op.drop_table('unanswered_questions')
    op.drop_table('messages')
    op.drop_table('entry_versions')
    op.drop_index('ix_entry_history_entry_at', table_name='entry_history')
    op.drop_table('entry_history')
    op.drop_index('ix_unanswered_groups_status_due', table_name='unanswered_groups')
    op.drop_table('unanswered_groups')
    op.drop_table('index_state')
    op.drop_index('ix_entries_status_updated', table_name='entries')
    op.drop_index('ix_entries_policy_deadline', table_name='entries', postgresql_where=sa.text('policy_deadline IS NOT NULL'))
    op.drop_index('ix_entries_live', table_name='entries')
    op.drop_table('entries')
    op.drop_index('ix_conversations_created', table_name='conversations')
    op.drop_table('conversations')
