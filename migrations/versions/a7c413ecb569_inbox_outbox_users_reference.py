"""Inbox, outbox, LINE users, areas and agencies

The webhook inbox (events stored once by webhookEventId, per-user leases), the outbox
(replies, pushes and multicasts with their retry keys), the LINE users who talk to the
account, and the reference tables for areas and partner agencies.

Revision ID: a7c413ecb569
Revises: (none)
Create Date: 2026-11-27 23:09:42.465986

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c413ecb569'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('agencies',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name_th', sa.String(length=200), nullable=False),
    sa.Column('short_name_th', sa.String(length=80), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_agencies'))
    )
    op.create_table('areas',
    sa.Column('code', sa.String(length=6), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('name_th', sa.String(length=120), nullable=False),
    sa.Column('name_en', sa.String(length=120), nullable=False),
    sa.Column('parent_code', sa.String(length=6), nullable=True),
    sa.ForeignKeyConstraint(['parent_code'], ['areas.code'], name=op.f('fk_areas_parent_code_areas')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_areas'))
    )
    with op.batch_alter_table('areas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_areas_parent_code'), ['parent_code'], unique=False)

    op.create_table('inbox_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('webhook_event_id', sa.String(length=64), nullable=False),
    sa.Column('user_key', sa.String(length=80), nullable=False),
    sa.Column('event_type', sa.String(length=40), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('occurred_ms', sa.BigInteger(), nullable=False),
    sa.Column('is_redelivery', sa.Boolean(), nullable=False),
    sa.Column('destination', sa.String(length=64), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('available_at', sa.DateTime(), nullable=True),
    sa.Column('handled_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_events')),
    sa.UniqueConstraint('webhook_event_id', name=op.f('uq_inbox_events_webhook_event_id'))
    )
    with op.batch_alter_table('inbox_events', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_pending_user', ['status', 'user_key', 'occurred_ms'], unique=False)
        batch_op.create_index('ix_inbox_status_received', ['status', 'received_at'], unique=False)

    op.create_table('inbox_leases',
    sa.Column('user_key', sa.String(length=80), nullable=False),
    sa.Column('owner', sa.String(length=80), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('user_key', name=op.f('pk_inbox_leases'))
    )
    op.create_table('line_users',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('line_user_id', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('followed', sa.Boolean(), nullable=False),
    sa.Column('followed_at', sa.DateTime(), nullable=True),
    sa.Column('unfollowed_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_line_users')),
    sa.UniqueConstraint('line_user_id', name=op.f('uq_line_users_line_user_id'))
    )
    op.create_table('service_state',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_service_state'))
    )
    op.create_table('outbox_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=True),
    sa.Column('recipients', sa.Text(), nullable=True),
    sa.Column('recipient_count', sa.Integer(), nullable=False),
    sa.Column('reply_token', sa.String(length=255), nullable=True),
    sa.Column('token_issued_ms', sa.BigInteger(), nullable=True),
    sa.Column('inbox_event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('retry_key', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('via', sa.String(length=16), nullable=True),
    sa.Column('reply_unclear', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('lease_owner', sa.String(length=80), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['inbox_event_id'], ['inbox_events.id'], name=op.f('fk_outbox_messages_inbox_event_id_inbox_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_outbox_recipient', ['recipient', 'status'], unique=False)



def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_recipient')
        batch_op.drop_index('ix_outbox_due')

    op.drop_table('outbox_messages')
    op.drop_table('service_state')
    op.drop_table('line_users')
    op.drop_table('inbox_leases')
    with op.batch_alter_table('inbox_events', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_status_received')
        batch_op.drop_index('ix_inbox_pending_user')

    op.drop_table('inbox_events')
    with op.batch_alter_table('areas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_areas_parent_code'))

    op.drop_table('areas')
    op.drop_table('agencies')
