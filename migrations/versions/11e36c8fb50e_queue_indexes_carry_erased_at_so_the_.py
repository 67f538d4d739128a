"""Queue indexes carry erased_at, so the untouched-for-30-days filter reads them alone

The "untouched for 30 days" filter and its count leave out erased cases (services.queue
.stale_clause tests `erased_at IS NULL` since the follow-up work), a column the two covering
queue indexes did not hold: on PostgreSQL every candidate case was then read from the table
(bench/console.py on a million cases: that view's p95 582 ms for a district officer). Both
indexes are made again with `erased_at` among their INCLUDEd columns; on SQLite, which has no
INCLUDE, they are unchanged and nothing is done.

On a million cases the two indexes take about 15 s to build, while writes to `cases` wait.

Revision ID: 11e36c8fb50e
Revises: f32f3e6c1ef0
Create Date: 2026-12-04 05:10:11.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '11e36c8fb50e'
down_revision = 'f32f3e6c1ef0'
branch_labels = None
depends_on = None

BEFORE = ['owner_agency_code', 'target_group', 'subdistrict_code', 'due_at', 'updated_at',
          'escalation']
AFTER = [*BEFORE, 'erased_at']


def _make(include: list[str]) -> None:
    op.drop_index('ix_cases_queue_stage', table_name='cases')
    op.drop_index('ix_cases_queue_district', table_name='cases')
    op.create_index('ix_cases_queue_district', 'cases', ['district_code', 'stage', 'id'],
                    unique=False, postgresql_include=include)
    op.create_index('ix_cases_queue_stage', 'cases', ['stage', 'id'], unique=False,
                    postgresql_include=['district_code', *include])


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        _make(AFTER)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        _make(BEFORE)
