"""Audit chain keyed: unkeyed seals cleared, search texts and reopening reasons out of audit details

The audit chain is now an HMAC-SHA256 chain under AUDIT_CHAIN_KEY (services.audit), with its
head kept in `service_state` ('audit.chain_head'). The SHA-256 seals of revision ff58f151ae27
were made without a key, so they prove nothing: they are cleared here, and the sealer (the
worker, or `flask --app wsgi audit seal`) chains every row again under the key, in the order
the rows were added, starting a new chain (its start is logged and shown by `audit verify`).

Audit details no longer hold personal text: a queue search (`filters.q` of `case.list` and
`case.export` rows) is kept as a keyed hash and its length, and a reopening's reason stays on
the timeline. This migration has no key, so the search texts already stored keep only their
length (`q_length`), and the reasons already stored are removed (the timeline keeps them).

Downgrade clears the keyed seals and the head (the older code seals the rows again with
SHA-256); the removed texts do not come back.

Revision ID: 0b7e4c1d2a9f
Revises: 1249cba37f0a
Create Date: 2026-12-04 03:04:41.561823

"""
import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0b7e4c1d2a9f'
down_revision = '1249cba37f0a'
branch_labels = None
depends_on = None

HEAD_KEY = "audit.chain_head"


def _clear_seals(bind) -> None:
    bind.execute(sa.text("UPDATE audit_log SET seal_seq = NULL, prev_hash = NULL, "
                         "row_hash = NULL WHERE seal_seq IS NOT NULL"))
    bind.execute(sa.text("DELETE FROM service_state WHERE key = :key"), {"key": HEAD_KEY})


def _scrubbed(action: str, detail: dict) -> dict | None:
    """The detail without its personal text, or None when it holds none."""
    if action in ("case.list", "case.export"):
        filters = detail.get("filters")
        if isinstance(filters, dict) and filters.get("q") is not None:
            kept = {k: v for k, v in filters.items() if k != "q"}
            return {**detail, "filters": {**kept, "q_length": len(str(filters["q"]).strip())}}
    elif action == "case.reopen" and "reason" in detail:
        return {k: v for k, v in detail.items() if k != "reason"}
    return None


def upgrade():
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT id, action, detail FROM audit_log "
        "WHERE (action IN ('case.list', 'case.export') AND detail LIKE :q) "
        "OR (action = 'case.reopen' AND detail LIKE :reason)"),
        {"q": '%"q":%', "reason": '%"reason":%'}).all()
    for row_id, action, detail in rows:
        try:
            data = json.loads(detail) if detail else {}
        except ValueError:
            continue
        scrubbed = _scrubbed(action, data) if isinstance(data, dict) else None
        if scrubbed is not None:
            bind.execute(sa.text("UPDATE audit_log SET detail = :detail WHERE id = :id"),
                         {"id": row_id, "detail": json.dumps(scrubbed, ensure_ascii=False,
                                                             separators=(",", ":"))})
    _clear_seals(bind)


def downgrade():
    _clear_seals(op.get_bind())
