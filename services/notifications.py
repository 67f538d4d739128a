"""Notifications: a service records who should hear what; the bot's sender renders and sends.

A service calls `notify(session, recipient, kind, **params)` in the same transaction as its
data change. The row waits in the outbox until the sender renders `kind` in the recipient's
language (see bot.outbox.renderer) and pushes it with the retry key made here.
"""

from __future__ import annotations

import json
import uuid

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models import OutboxMessage, utcnow


def notify(session: Session, recipient: str, kind: str, **params) -> OutboxMessage:
    """Queue a notification of `kind` with `params` for one LINE user."""
    row = OutboxMessage(
        kind=kind,
        payload=json.dumps(params, ensure_ascii=False),
        recipient=recipient,
        retry_key=str(uuid.uuid4()),
    )
    session.add(row)
    return row


def notify_once(session: Session, key: str, recipient: str, kind: str, quiet: bool = False,
                **params) -> bool:
    """Queue a notification unless one with the same `key` was ever queued (by this run, an
    earlier run, or another worker at the same moment): an INSERT that does nothing on a
    conflict with the unique `dedupe_key`. `quiet` holds it while QUIET_HOURS last. Returns
    whether it was queued now."""
    dialect = session.get_bind().dialect.name
    insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(OutboxMessage)
    statement = insert.values(
        kind=kind, payload=json.dumps(params, ensure_ascii=False), recipient=recipient,
        retry_key=str(uuid.uuid4()), dedupe_key=key, quiet=quiet, status=OutboxMessage.PENDING,
        recipient_count=1, attempts=0, reply_unclear=False, next_attempt_at=utcnow(),
        created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(OutboxMessage.id)
    return session.execute(statement).scalar() is not None
