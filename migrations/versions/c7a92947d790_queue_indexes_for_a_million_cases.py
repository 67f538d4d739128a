"""Queue indexes for a million cases: the console's queue and its counts stay fast

Measured with bench/console.py on 1,000,000 generated cases in PostgreSQL (bench/README.md,
"Benchmarks: the console on a million cases"). Without these, an officer's queue page read
the whole `cases` table (seq scans of 635 MB for the chip counts, a sort of the scope for the
deadline orders): 1-4 s a page.

- `ix_cases_district_id` (district, id): an officer's district newest or oldest first.
- `ix_cases_district_due` (district, deadline, id) and `ix_cases_due` (deadline, id), which
  replaces `ix_cases_due_at`: the deadline orders of a district and of a province both ways,
  and overdue cases; on PostgreSQL they INCLUDE the stage and owner so overdue counts read the
  index alone.
- `ix_cases_queue_district` (district, stage, id) and `ix_cases_queue_stage` (stage, id): a
  stage's cases newest first, and the chips' counts per stage; on PostgreSQL they INCLUDE
  every column the queue's filters test (owner, group, subdistrict, deadline, last change,
  escalation), so a count never visits the table.
- `ix_referrals_pending_to` (agency, case) for pending referrals only: an officer's scope and
  "referred to us".
- PostgreSQL only: `ix_cases_name_trgm`, a trigram GIN index on the normalised child name for
  the search box's LIKE '%name%' (the pg_trgm extension, trusted since PostgreSQL 13: a
  database owner may create it; where it cannot be created the search still works, by a scan,
  and a warning says so); and extended statistics telling the planner that a subdistrict
  lies in one district and a group mostly goes to one agency: its row estimates were 10x off,
  and it sorted a province's cases on disk to count them by district and subdistrict
  (services.stats) where hashing 7,000 groups does.

On a million cases the indexes take about 25 s to build, while writes to `cases` wait.

Revision ID: c7a92947d790
Revises: 9aa056b24ef1
Create Date: 2026-11-28 12:28:52.254278

"""
import logging

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c7a92947d790'
down_revision = '9aa056b24ef1'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
QUEUE_FILTERS = ['owner_agency_code', 'target_group', 'subdistrict_code', 'due_at',
                 'updated_at', 'escalation']
PENDING = "status = 'pending'"


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_due_at')
        batch_op.create_index('ix_cases_district_id', ['district_code', 'id'], unique=False)
        batch_op.create_index('ix_cases_district_due', ['district_code', 'due_at', 'id'],
                              unique=False, postgresql_include=['stage', 'owner_agency_code'])
        batch_op.create_index('ix_cases_due', ['due_at', 'id'], unique=False,
                              postgresql_include=['stage', 'district_code', 'owner_agency_code'])
        batch_op.create_index('ix_cases_queue_district', ['district_code', 'stage', 'id'],
                              unique=False, postgresql_include=QUEUE_FILTERS)
        batch_op.create_index('ix_cases_queue_stage', ['stage', 'id'], unique=False,
                              postgresql_include=['district_code', *QUEUE_FILTERS])

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_pending_to', ['to_agency_code', 'case_id'],
                              unique=False, postgresql_where=sa.text(PENDING),
                              sqlite_where=sa.text(PENDING))

    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    if _trigrams(bind):
        op.create_index('ix_cases_name_trgm', 'cases', ['child_name_norm'], unique=False,
                        postgresql_using='gin',
                        postgresql_ops={'child_name_norm': 'gin_trgm_ops'})
    op.execute("CREATE STATISTICS IF NOT EXISTS st_cases_place (ndistinct, dependencies) "
               "ON district_code, subdistrict_code FROM cases")
    op.execute("CREATE STATISTICS IF NOT EXISTS st_cases_routing (ndistinct, dependencies) "
               "ON target_group, owner_agency_code FROM cases")
    op.execute("ANALYZE cases")
    op.execute("ANALYZE referrals")


def _trigrams(bind) -> bool:
    """pg_trgm there (made if missing and allowed); False, with a warning, if it cannot be."""
    available = bind.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").scalar()
    if not available:
        log.warning("pg_trgm is not installed on this server: the case search works without "
                    "its index, by a scan (install postgresql-contrib, then run this again)")
        return False
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as exc:
        log.warning("could not create the pg_trgm extension (%s): the case search works "
                    "without its index, by a scan", exc.orig)
        return False
    return True


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("DROP STATISTICS IF EXISTS st_cases_routing")
        op.execute("DROP STATISTICS IF EXISTS st_cases_place")
        op.execute("DROP INDEX IF EXISTS ix_cases_name_trgm")  # the extension stays

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_pending_to')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_queue_stage')
        batch_op.drop_index('ix_cases_queue_district')
        batch_op.drop_index('ix_cases_due')
        batch_op.drop_index('ix_cases_district_due')
        batch_op.drop_index('ix_cases_district_id')
        batch_op.create_index('ix_cases_due_at', ['due_at'], unique=False)
