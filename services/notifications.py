"""Notifications: a service records who should hear what; the bot's sender renders and sends.

A service calls `notify(session, recipient, kind, **params)` in the same transaction as its
data change. The row waits in the outbox until the sender renders `kind` in the recipient's
language (see bot.outbox.renderer) and pushes it with the retry key made here.
"""

from __future__ import annotations

import json
import uuid

from sqlalchemy.orm import Session

from models import OutboxMessage


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
