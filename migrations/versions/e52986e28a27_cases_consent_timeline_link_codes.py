"""Cases with consent, photos, timeline and link codes; anonymous counts; reference counter

The case registry of DESIGN.md §3: `cases` (the child, guardian, address, situations, stage and
owning agency, with indexes for the subdistrict and agency queues and for a reporter's list);
`case_photos` (photos copied from LINE into the database); `consents` (the guardian's consent
as data: purposes, statement version, channel, who and when); `timeline_entries` (every event
of a case, public or internal); `link_codes` (single-use parent link codes, stored as keyed
hashes); `anonymous_reports` (reports without consent: a count per subdistrict and group, nothing
about the child); and `case_counters` (the last reference number given per Buddhist-era year).
JSON lists and objects are stored as text.

Revision ID: e52986e28a27
Revises: ae6031d26670
Create Date: 2026-11-27 23:44:14.268697

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e52986e28a27'
down_revision = 'ae6031d26670'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('case_counters',
    sa.Column('year_be', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year_be', name=op.f('pk_case_counters'))
    )
    op.create_table('anonymous_reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subdistrict_code', sa.String(length=6), nullable=False),
    sa.Column('target_group', sa.String(length=20), nullable=False),
    sa.Column('submission_key', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['subdistrict_code'], ['areas.code'], name=op.f('fk_anonymous_reports_subdistrict_code_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_anonymous_reports')),
    sa.UniqueConstraint('submission_key', name=op.f('uq_anonymous_reports_submission_key'))
    )
    with op.batch_alter_table('anonymous_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_anonymous_reports_subdistrict_code'), ['subdistrict_code'], unique=False)

    op.create_table('cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('reference', sa.String(length=20), nullable=False),
    sa.Column('submission_key', sa.String(length=64), nullable=True),
    sa.Column('target_group', sa.String(length=20), nullable=False),
    sa.Column('child_name', sa.String(length=200), nullable=False),
    sa.Column('child_name_norm', sa.String(length=200), nullable=False),
    sa.Column('sex', sa.String(length=8), nullable=True),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('birth_precision', sa.String(length=8), nullable=True),
    sa.Column('id_kind', sa.String(length=12), nullable=False),
    sa.Column('id_number', sa.String(length=20), nullable=True),
    sa.Column('id_hash', sa.String(length=64), nullable=True),
    sa.Column('guardian_name', sa.String(length=200), nullable=True),
    sa.Column('guardian_phone', sa.String(length=20), nullable=True),
    sa.Column('guardian_relation', sa.String(length=40), nullable=True),
    sa.Column('village', sa.String(length=200), nullable=True),
    sa.Column('village_no', sa.Integer(), nullable=True),
    sa.Column('subdistrict_code', sa.String(length=6), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('situations', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('latitude', sa.Double(), nullable=True),
    sa.Column('longitude', sa.Double(), nullable=True),
    sa.Column('location_address', sa.String(length=500), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('owner_agency_code', sa.String(length=16), nullable=False),
    sa.Column('owner_area_code', sa.String(length=6), nullable=False),
    sa.Column('reporter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('self_reported', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['district_code'], ['areas.code'], name=op.f('fk_cases_district_code_areas')),
    sa.ForeignKeyConstraint(['owner_agency_code'], ['agencies.code'], name=op.f('fk_cases_owner_agency_code_agencies')),
    sa.ForeignKeyConstraint(['owner_area_code'], ['areas.code'], name=op.f('fk_cases_owner_area_code_areas')),
    sa.ForeignKeyConstraint(['reporter_id'], ['line_users.id'], name=op.f('fk_cases_reporter_id_line_users')),
    sa.ForeignKeyConstraint(['subdistrict_code'], ['areas.code'], name=op.f('fk_cases_subdistrict_code_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('reference', name=op.f('uq_cases_reference')),
    sa.UniqueConstraint('submission_key', name=op.f('uq_cases_submission_key'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_child_name_norm'), ['child_name_norm'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_id_hash'), ['id_hash'], unique=False)
        batch_op.create_index('ix_cases_owner_queue', ['owner_agency_code', 'owner_area_code', 'stage'], unique=False)
        batch_op.create_index('ix_cases_reporter_created', ['reporter_id', 'created_at'], unique=False)
        batch_op.create_index('ix_cases_subdistrict_stage', ['subdistrict_code', 'stage'], unique=False)

    op.create_table('case_photos',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_photos_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_photos'))
    )
    with op.batch_alter_table('case_photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_photos_case_id'), ['case_id'], unique=False)

    op.create_table('consents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('guardian_name', sa.String(length=200), nullable=True),
    sa.Column('purposes', sa.Text(), nullable=False),
    sa.Column('statement_version', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_consents_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_case_id'), ['case_id'], unique=False)

    op.create_table('link_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('used_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_link_codes_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_link_codes_code_hash'))
    )
    with op.batch_alter_table('link_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_codes_case_id'), ['case_id'], unique=False)

    op.create_table('timeline_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_timeline_entries_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timeline_entries'))
    )
    with op.batch_alter_table('timeline_entries', schema=None) as batch_op:
        batch_op.create_index('ix_timeline_entries_case_at', ['case_id', 'at'], unique=False)



def downgrade():
    with op.batch_alter_table('timeline_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_timeline_entries_case_at')

    op.drop_table('timeline_entries')
    with op.batch_alter_table('link_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_codes_case_id'))

    op.drop_table('link_codes')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_case_id'))

    op.drop_table('consents')
    with op.batch_alter_table('case_photos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_photos_case_id'))

    op.drop_table('case_photos')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_subdistrict_stage')
        batch_op.drop_index('ix_cases_reporter_created')
        batch_op.drop_index('ix_cases_owner_queue')
        batch_op.drop_index(batch_op.f('ix_cases_id_hash'))
        batch_op.drop_index(batch_op.f('ix_cases_child_name_norm'))

    op.drop_table('cases')
    with op.batch_alter_table('anonymous_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_anonymous_reports_subdistrict_code'))

    op.drop_table('anonymous_reports')
    op.drop_table('case_counters')
