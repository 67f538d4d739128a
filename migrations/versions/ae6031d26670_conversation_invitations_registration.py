"""Conversation state, invitations, and registration fields of LINE users

Per-user conversation state (flow, step, draft, expiry, version) for the chat flows;
single-use invitation codes (stored as keyed hashes) for volunteers and officers; and
the registration fields and code-guess counters on line_users.

Revision ID: ae6031d26670
Revises: b5e2d0c4f1a8
Create Date: 2026-11-27 23:36:37.573962

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ae6031d26670'
down_revision = 'b5e2d0c4f1a8'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('conversation_states',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('line_user_id', sa.String(length=64), nullable=False),
    sa.Column('flow', sa.String(length=40), nullable=False),
    sa.Column('step', sa.String(length=40), nullable=False),
    sa.Column('draft', sa.Text(), nullable=False),
    sa.Column('history', sa.Text(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_states')),
    sa.UniqueConstraint('line_user_id', name=op.f('uq_conversation_states_line_user_id'))
    )
    op.create_table('invitations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('subdistrict_code', sa.String(length=6), nullable=True),
    sa.Column('agency_code', sa.String(length=16), nullable=True),
    sa.Column('area_code', sa.String(length=6), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('used_by', sa.String(length=64), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agency_code'], ['agencies.code'], name=op.f('fk_invitations_agency_code_agencies')),
    sa.ForeignKeyConstraint(['area_code'], ['areas.code'], name=op.f('fk_invitations_area_code_areas')),
    sa.ForeignKeyConstraint(['subdistrict_code'], ['areas.code'], name=op.f('fk_invitations_subdistrict_code_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_invitations_code_hash'))
    )
    with op.batch_alter_table('line_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('full_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('village', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('village_no', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('subdistrict_code', sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column('agency_code', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('area_code', sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column('registered_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('code_failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('code_locked_until', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_line_users_subdistrict_code_areas'), 'areas', ['subdistrict_code'], ['code'])
        batch_op.create_foreign_key(batch_op.f('fk_line_users_agency_code_agencies'), 'agencies', ['agency_code'], ['code'])
        batch_op.create_foreign_key(batch_op.f('fk_line_users_area_code_areas'), 'areas', ['area_code'], ['code'])



def downgrade():
    with op.batch_alter_table('line_users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_line_users_area_code_areas'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_line_users_agency_code_agencies'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_line_users_subdistrict_code_areas'), type_='foreignkey')
        batch_op.drop_column('code_locked_until')
        batch_op.drop_column('code_failures')
        batch_op.drop_column('registered_at')
        batch_op.drop_column('area_code')
        batch_op.drop_column('agency_code')
        batch_op.drop_column('subdistrict_code')
        batch_op.drop_column('village_no')
        batch_op.drop_column('village')
        batch_op.drop_column('phone')
        batch_op.drop_column('full_name')

    op.drop_table('invitations')
    op.drop_table('conversation_states')
