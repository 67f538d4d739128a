"""The outbox API for the bot: queue LINE messages in the caller's transaction.

- `reply_rows(event, reply_token, messages)` then `insert_rows(session, rows)`: answer an inbox
  event (the worker inserts a batch's answers at once); the first five messages go as a reply
  (or a push when the token is stale or refused), any more as pushes.
- `queue_push(session, user_id, messages)`: push to one user, five messages a row.
- `queue_multicast(session, user_ids, messages)`: one row per 500 users.
- `renderer(kind)`: register how a service notification (services.notifications.notify) is
  turned into messages in the recipient's language when it is sent.
Every row gets its retry key now, so a retry after a crash reuses it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from collections.abc import Callable

from sqlalchemy.orm import Session

from models import InboxEvent, LineUser, OutboxMessage, utcnow

MAX_MESSAGES = 5
MAX_MULTICAST = 500
MESSAGES = "messages"

Renderer = Callable[[dict, LineUser | None], list[dict]]
_renderers: dict[str, Renderer] = {}


def renderer(kind: str) -> Callable[[Renderer], Renderer]:
    """Register the function that renders notifications of `kind` into LINE messages."""

    def decorator(func: Renderer) -> Renderer:
        _renderers[kind] = func
        return func

    return decorator


def render(row: OutboxMessage, user: LineUser | None) -> list[dict]:
    """The LINE messages of an outbox row (rendering a notification if it is one)."""
    payload = json.loads(row.payload)
    if row.kind == MESSAGES:
        return payload
    try:
        func = _renderers[row.kind]
    except KeyError as exc:
        raise LookupError(f"no renderer for notification kind {row.kind!r}") from exc
    return func(payload, user)


def detached(row):
    """A copy of a row's column values that outlives its session (for sending after commit)."""
    return type(row)(**{c.key: getattr(row, c.key) for c in row.__table__.columns})


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _row(messages: list[dict], **fields) -> OutboxMessage:
    return OutboxMessage(
        kind=MESSAGES,
        payload=json.dumps(messages, ensure_ascii=False),
        retry_key=str(uuid.uuid4()),
        **fields,
    )


def reply_rows(event: InboxEvent, reply_token: str | None, messages: list[dict],
               lease_owner: str | None = None, lease_seconds: float = 60) -> list[dict]:
    """The outbox rows that answer an inbox event (no token, or standby: push only), as column
    values with each row's messages (`messages`), for `insert_rows`. With `lease_owner`, the
    rows are born leased to that worker, which sends them itself right after its commit; if
    it dies first, the lease expires and any sender takes them."""
    if not messages:
        return []
    expires = utcnow() + dt.timedelta(seconds=lease_seconds) if lease_owner else None
    rows = []
    for index, chunk in enumerate(_chunks(messages, MAX_MESSAGES)):
        token = reply_token if index == 0 else None
        rows.append({
            "kind": MESSAGES, "payload": json.dumps(chunk, ensure_ascii=False),
            "retry_key": str(uuid.uuid4()), "recipient": event.user_key, "recipients": None,
            "reply_token": token, "token_issued_ms": event.occurred_ms if token else None,
            "inbox_event_id": event.id, "status": OutboxMessage.PENDING, "via": None,
            "attempts": 0, "reply_unclear": False, "lease_owner": lease_owner or None,
            "lease_expires_at": expires, "messages": chunk,
        })
    return rows


def insert_rows(session: Session, rows: list[dict]) -> list[tuple[OutboxMessage, list[dict]]]:
    """Insert `reply_rows` in the session's transaction with one executemany (RETURNING their
    ids, no unit of work); return each as a transient OutboxMessage (in no session, so the
    commit expires nothing) with its messages, for sending after the commit."""
    if not rows:
        return []
    values = [{k: v for k, v in row.items() if k != "messages"} for row in rows]
    ids = session.connection().execute(_insert_rows(), values).scalars().all()
    return [(OutboxMessage(id=row_id, **value), row["messages"])
            for row_id, value, row in zip(ids, values, rows, strict=True)]


@functools.cache
def _insert_rows():
    table = OutboxMessage.__table__
    return table.insert().returning(table.c.id, sort_by_parameter_order=True)


def queue_push(session: Session, user_id: str, messages: list[dict]) -> list[OutboxMessage]:
    """Queue a push of messages to one user (five a call)."""
    rows = [_row(chunk, recipient=user_id) for chunk in _chunks(messages, MAX_MESSAGES)]
    session.add_all(rows)
    return rows


def queue_multicast(
    session: Session, user_ids: list[str], messages: list[dict]
) -> list[OutboxMessage]:
    """Queue the same messages to many users, one row (and retry key) per 500 of them."""
    if len(messages) > MAX_MESSAGES:
        raise ValueError("a multicast carries at most five messages")
    rows = [
        _row(messages, recipients=json.dumps(batch), recipient_count=len(batch))
        for batch in _chunks(list(dict.fromkeys(user_ids)), MAX_MULTICAST)
    ]
    session.add_all(rows)
    return rows
