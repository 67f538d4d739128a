"""The worker's one-statement insert of a batch's answers (bot.outbox.insert_rows): each row
gets its own id back, with the columns' defaults and UTC times, on each database."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from bot.extensions import db
from bot.messages import text
from bot.outbox import insert_rows, reply_rows
from models import InboxEvent, OutboxMessage, utcnow


def _event(n: int) -> InboxEvent:
    event = InboxEvent(webhook_event_id=f"01TESTINSERT{n:014d}", user_key=f"U{n:032d}",
                       event_type="message", payload="{}", occurred_ms=1_700_000_000_000 + n)
    db.session.add(event)
    return event


def test_a_batchs_rows_get_their_own_ids_defaults_and_utc_times(app, session):
    with app.app_context():
        events = [_event(n) for n in range(7)]
        db.session.flush()
        rows = []
        for n, event in enumerate(events):  # one to three rows an event (five messages a row)
            messages = [text(f"ข้อความ {n}-{m} 🙂") for m in range(1 + 5 * (n % 3))]
            rows.extend(reply_rows(event, f"token-{n}", messages, lease_owner="w1"))
        before = utcnow()
        inserted = insert_rows(db.session, rows)
        db.session.commit()
        assert [messages for _row, messages in inserted] == [row["messages"] for row in rows]
        ids = [row.id for row, _messages in inserted]
        assert len(set(ids)) == len(rows) == 13

    stored = {r.id: r for r in session.scalars(sa.select(OutboxMessage))}
    assert set(stored) == set(ids)
    for (row, messages), given in zip(inserted, rows, strict=True):
        kept = stored[row.id]
        assert json.loads(kept.payload) == messages  # its own messages, not a neighbour's
        assert kept.retry_key == given["retry_key"] and kept.reply_token == given["reply_token"]
        assert kept.recipient == given["recipient"] and kept.lease_owner == "w1"
        # Python-side defaults as the ORM applies them
        assert kept.recipient_count == 1 and kept.quiet is False and kept.dedupe_key is None
        assert before - dt.timedelta(seconds=5) <= kept.created_at <= utcnow()
        assert kept.next_attempt_at.tzinfo is not None
        # an aware time given is stored as that UTC moment
        assert abs((kept.lease_expires_at - given["lease_expires_at"]).total_seconds()) < 1e-3


def test_an_empty_batch_inserts_nothing(app, session):
    with app.app_context():
        assert insert_rows(db.session, []) == []
    assert session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
