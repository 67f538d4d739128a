"""Console sessions that end when asked, and the public figures stored once a day

- `officers.session_generation`: every console session cookie carries the account's number
  (handlers/console/security.py); signing out, a password change or reset, the end of a
  lockout, a change of role, agency or area and a deactivation raise it, so a cookie copied
  before no longer signs anyone in (sessions are signed cookies: nothing else can end them).
- `public_snapshots`: the figures of /public counted once a day from a fixed cut-off (00:00
  in Khon Kaen) and served from here all day (services.public), so the page cannot be
  compared over the day.

Revision ID: 1249cba37f0a
Revises: 2562f88e387e
Create Date: 2026-12-04 03:01:43.766287

"""
from alembic import op
import sqlalchemy as sa

import models.base


# revision identifiers, used by Alembic.
revision = '1249cba37f0a'
down_revision = '2562f88e387e'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('public_snapshots',
    sa.Column('province_code', sa.String(length=2), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('cut_off', models.base.UTCDateTime(), nullable=False),
    sa.Column('computed_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('figures', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('province_code', 'day', name=op.f('pk_public_snapshots'))
    )
    with op.batch_alter_table('officers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), server_default='0',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('officers', schema=None) as batch_op:
        batch_op.drop_column('session_generation')

    op.drop_table('public_snapshots')
