"""长三角 partners follow our documents: their subscriptions (``partner_subscriptions``) and the feed of
changes of the documents followed (``partner_feed``, paged by its sequence).

Revision ID: 0007_partner_lookup_feed
Revises: 0006_partner_self_service
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_partner_lookup_feed"
down_revision = "0006_partner_self_service"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('partner_subscriptions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('partner_subject', sa.String(length=128), nullable=False),
    sa.Column('province', sa.String(length=8), nullable=False),
    sa.Column('licence_id', sa.String(length=32), nullable=False),
    sa.Column('from_seq', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['licence_id'], ['licences.id'], name=op.f('fk_partner_subscriptions_licence_id_licences')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_subscriptions')),
    sa.UniqueConstraint('partner_subject', 'licence_id', name=op.f('uq_partner_subscriptions_partner_subject_licence_id'))
    )
    op.create_index(op.f('ix_partner_subscriptions_licence_id'), 'partner_subscriptions', ['licence_id'], unique=False)
    op.create_table('partner_feed',
    sa.Column('seq', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('licence_id', sa.String(length=32), nullable=False),
    sa.Column('change', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['licence_id'], ['licences.id'], name=op.f('fk_partner_feed_licence_id_licences')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_partner_feed'))
    )
    op.create_index(op.f('ix_partner_feed_licence_id'), 'partner_feed', ['licence_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_partner_feed_licence_id'), table_name='partner_feed')
    op.drop_table('partner_feed')
    op.drop_index(op.f('ix_partner_subscriptions_licence_id'), table_name='partner_subscriptions')
    op.drop_table('partner_subscriptions')
