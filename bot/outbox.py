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

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot import recordset
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
    return transient(type(row), {c.key: getattr(row, c.key) for c in row.__table__.columns})


def transient(model, values: dict):
    """An instance of `model` in no session holding `values` as its loaded state, made as the
    ORM makes the rows it reads (no constructor, no change events: a tenth of the cost of
    `model(**values)`); setting an attribute afterwards works as usual."""
    mapper = model.__mapper__
    if not mapper.configured:  # its attributes are set up with the first query or instance
        sa.orm.configure_mappers()
    instance = mapper.class_manager.new_instance()
    instance.__dict__.update(values)
    return instance


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
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        ids = _insert_json(connection, values)
    else:
        ids = connection.execute(_insert_rows(), values).scalars().all()
    return [(transient(OutboxMessage, {**value, "id": row_id}),
             row["messages"])
            for row_id, value, row in zip(ids, values, rows, strict=True)]


@functools.cache
def _insert_rows():
    table = OutboxMessage.__table__
    return table.insert().returning(table.c.id, sort_by_parameter_order=True)


def _insert_json(connection, values: list[dict]) -> list[int]:
    """PostgreSQL: insert the rows with one statement whose text is the same for any number
    of rows, the rows travelling as one JSON array (`json_to_recordset`), returning their ids
    in the order of `values`.

    SQLAlchemy's multi-row VALUES has a placeholder per value, so its text changes with the
    number of rows and psycopg parses it afresh each time (it caches only statements of at
    most 50 parameters); one array a column (`unnest`) had a fixed text too, but psycopg
    builds each array's text in Python, value by value: a tenth of the worker's CPU. One JSON
    text is made by the json module's C encoder and read by the server's. The ids are matched
    to the rows by their retry keys (unique), so the order RETURNING gives them in does not
    matter. Python-side column defaults are applied as the ORM would, and every value goes
    through its column type's bind processing (UTCDateTime: aware UTC to naive)."""
    keys, statement, processors = _json_statement(tuple(values[0]), connection.dialect)
    records = []
    for value in values:
        record = {}
        for key, default in keys:
            if default is None:
                item = value[key]
            else:  # a column the rows leave to its default (ColumnDefault)
                item = default.arg(None) if default.is_callable else default.arg
            record[key] = recordset.bound(item, processors[key])
        records.append(record)
    data = recordset.dumps(records)
    by_key = {retry_key: row_id
              for row_id, retry_key in connection.exec_driver_sql(statement, (data,))}
    if len(by_key) != len(values):
        raise RuntimeError(f"{len(values)} outbox rows inserted, {len(by_key)} ids returned")
    return [by_key[value["retry_key"]] for value in values]


@functools.cache
def _json_statement(given: tuple[str, ...], dialect):
    """The INSERT ... SELECT FROM json_to_recordset(%s) for rows of these keys, with the
    columns that have a Python-side default added (each with its ColumnDefault)."""
    table = OutboxMessage.__table__
    keys = [(key, None) for key in given] + [
        (column.key, column.default) for column in table.columns
        if column.key not in given and not column.primary_key and column.default is not None
        and (column.default.is_callable or column.default.is_scalar)]
    names = [key for key, _ in keys]
    columns = ", ".join(names)
    statement = (f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM "
                 f"json_to_recordset(%s::json) AS r({recordset.columns(table, names, dialect)}) "
                 f"RETURNING id, retry_key")
    return keys, statement, recordset.processors(table, names, dialect)


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
