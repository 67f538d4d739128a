"""Consents record who withdrew them and through which channel; parents' statement versioned

`consents.withdrawn_by` (the guardian's LINE user id or the officer's username) and
`consents.withdrawal_channel` (line_parent, console, api) are filled by services.consent from
now on; consents withdrawn before this revision get them from their audit row
(`case.consent_withdraw`: its actor and channel), the k-th withdrawal of a case matched with
the k-th such row.

A parent who asks for help for their own child hears the parents' statement, not the one the
volunteer reads: it is now a version of its own (`parent-2569-1`, services.cases), and the
parents' consents recorded so far under `2569-1` (channel `line_parent`) are given it.

Revision ID: f32f3e6c1ef0
Revises: a8e61f0c5d21
Create Date: 2026-12-02 10:12:41.227416

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f32f3e6c1ef0'
down_revision = 'a8e61f0c5d21'
branch_labels = None
depends_on = None

PARENT_VERSION = "parent-2569-1"
OLD_VERSION = "2569-1"
CHANNELS = {"line": "line_parent", "console": "console", "api": "api"}

consents = sa.table("consents", sa.column("id", sa.BigInteger),
                    sa.column("case_id", sa.BigInteger), sa.column("channel", sa.String), sa.column("statement_version", sa.String),
                    sa.column("withdrawn_at"), sa.column("withdrawn_by", sa.String),
                    sa.column("withdrawal_channel", sa.String))
audit_log = sa.table("audit_log", sa.column("id", sa.BigInteger),
                     sa.column("case_id", sa.BigInteger), sa.column("action", sa.String),
                     sa.column("actor", sa.String), sa.column("detail", sa.Text))


def upgrade():
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawn_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('withdrawal_channel', sa.String(length=20), nullable=True))

    bind = op.get_bind()
    bind.execute(sa.update(consents).where(consents.c.channel == "line_parent",
                                           consents.c.statement_version == OLD_VERSION)
                 .values(statement_version=PARENT_VERSION))
    withdrawn = bind.execute(
        sa.select(consents.c.id, consents.c.case_id, consents.c.withdrawn_at)
        .where(consents.c.withdrawn_at.is_not(None), consents.c.withdrawn_by.is_(None))
        .order_by(consents.c.case_id, consents.c.withdrawn_at, consents.c.id)).all()
    by_case: dict = {}
    for row_id, case_id, withdrawn_at in withdrawn:
        moments = by_case.setdefault(case_id, {})
        moments.setdefault(withdrawn_at, []).append(row_id)
    for case_id, moments in by_case.items():
        rows = bind.execute(
            sa.select(audit_log.c.actor, audit_log.c.detail)
            .where(audit_log.c.case_id == case_id,
                   audit_log.c.action == "case.consent_withdraw")
            .order_by(audit_log.c.id)).all()
        for (_moment, ids), (actor, detail) in zip(moments.items(), rows):
            try:
                via = (json.loads(detail or "{}") or {}).get("via")
            except ValueError:
                via = None
            bind.execute(sa.update(consents).where(consents.c.id.in_(ids)).values(
                withdrawn_by=actor, withdrawal_channel=CHANNELS.get(via, via)))


def downgrade():
    bind = op.get_bind()
    bind.execute(sa.update(consents).where(consents.c.statement_version == PARENT_VERSION)
                 .values(statement_version=OLD_VERSION))
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_column('withdrawal_channel')
        batch_op.drop_column('withdrawn_by')
