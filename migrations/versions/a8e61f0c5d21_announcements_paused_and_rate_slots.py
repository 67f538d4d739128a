"""Announcements: paused by LINE's monthly limit, and who was told; a shared multicast pace

`announcements.paused_at` (when LINE's monthly limit began holding its batches; None when not
paused) and `announcements.pause_told` (the officers, author and approver, already told of that
pause in a LINE reply), so each is told once per pause; `rate_slots` (one row per shared rate
limit: the next free moment, in Unix microseconds) lets every sender process pace multicast
together with one conditional UPDATE ... RETURNING, instead of each process on its own.

Revision ID: a8e61f0c5d21
Revises: 0b7e4c1d2a9f
Create Date: 2026-12-04 03:05:00.000000

"""
from alembic import op
import sqlalchemy as sa

import models.base
import models.case


# revision identifiers, used by Alembic.
revision = 'a8e61f0c5d21'
down_revision = '0b7e4c1d2a9f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rate_slots',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('next_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_rate_slots'))
    )
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('pause_told', models.case.JSONText(), nullable=True))


def downgrade():
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.drop_column('pause_told')
        batch_op.drop_column('paused_at')
    op.drop_table('rate_slots')
