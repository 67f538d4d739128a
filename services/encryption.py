"""`flask --app wsgi rotate-key`: re-encrypt every encrypted value under the newest key.

Put the new key first in DATA_ENCRYPTION_KEYS (keep the old ones after it), restart the
service, run `rotate-key`; once it reports every value rotated, the old keys can be dropped.
It works while the service runs: rows are read and written in small batches through the raw
columns, and each write is conditional on the stored value being unchanged (a value the
service rewrote meanwhile is already under the newest key). Values stored before encryption
was turned on are encrypted on the way.

Conversation drafts hold their personal answers encrypted inside their JSON (the report flow's
`seal`): those are re-encrypted too, each row written only if unchanged since it was read, and
with its version moved on, so the conversation engine's own write of a draft it read before
fails (and its event is handled again) instead of putting the old key's values back.
"""

from __future__ import annotations

import json
import time

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import crypto

#: (table, key column, encrypted column, binary?)
COLUMNS = (("cases", "id", "id_number", False),
           ("cases", "id", "guardian_phone", False),
           ("line_users", "id", "phone", False),
           ("case_photos", "id", "data", True))
BATCH = 200
#: Seconds between two batches (the service's turn to write).
PAUSE = 0.01


def _raw(table: str, key: str, column: str, binary: bool) -> sa.TableClause:
    return sa.table(table, sa.column(key, sa.BigInteger),
                    sa.column(column, sa.LargeBinary if binary else sa.Text))


def rotate(session: Session, batch: int = BATCH, pause: float = PAUSE) -> dict[str, int]:
    """Re-encrypt every value; returns how many were rewritten per column. Commits per
    batch, and waits `pause` seconds after each commit so the service's own writes get the
    database in between (SQLite has one writer at a time: back-to-back batches starved
    them)."""
    report = {}
    for table, key, column, binary in COLUMNS:
        raw = _raw(table, key, column, binary)
        pk, value = raw.c[key], raw.c[column]
        rotate_one = crypto.rotate_bytes if binary else crypto.rotate_text
        done = last = 0
        while True:
            rows = session.execute(sa.select(pk, value).where(pk > last, value.is_not(None))
                                   .order_by(pk).limit(batch)).all()
            if not rows:
                session.rollback()  # end the read: on SQLite it holds the write lock
                break
            for row_id, stored in rows:
                done += session.execute(
                    sa.update(raw).where(pk == row_id, value == stored)
                    .values({column: rotate_one(stored)})).rowcount
            last = rows[-1][0]
            session.commit()
            time.sleep(pause)  # the service's turn to write
        report[f"{table}.{column}"] = done
    report["conversation_states.draft"] = _rotate_drafts(session, batch)
    return report


def _rotate_value(value):
    """A draft's JSON value with every encrypted string in it re-encrypted."""
    if isinstance(value, str) and value.startswith(crypto.PREFIX):
        return crypto.rotate_text(value)
    if isinstance(value, dict):
        return {key: _rotate_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rotate_value(item) for item in value]
    return value


def _rotate_drafts(session: Session, batch: int) -> int:
    """Re-encrypt the sealed answers of every conversation draft; returns the drafts
    rewritten."""
    raw = sa.table("conversation_states", sa.column("id", sa.BigInteger),
                   sa.column("draft", sa.Text), sa.column("version", sa.Integer))
    done = last = 0
    while True:
        rows = session.execute(sa.select(raw.c.id, raw.c.draft, raw.c.version)
                               .where(raw.c.id > last, raw.c.draft.like(f"%{crypto.PREFIX}%"))
                               .order_by(raw.c.id).limit(batch)).all()
        if not rows:
            return done
        for row_id, stored, version in rows:
            rotated = json.dumps(_rotate_value(json.loads(stored)), ensure_ascii=False)
            done += session.execute(
                sa.update(raw).where(raw.c.id == row_id, raw.c.draft == stored,
                                     raw.c.version == version)
                .values(draft=rotated, version=version + 1)).rowcount
        last = rows[-1][0]
        session.commit()
