"""`flask --app wsgi rotate-key`: re-encrypt every encrypted value under the newest key.

Put the new key first in DATA_ENCRYPTION_KEYS (keep the old ones after it), restart the
service, run `rotate-key`; once it reports every value rotated, the old keys can be dropped.
It works while the service runs: rows are read and written in small batches through the raw
columns, and each write is conditional on the stored value being unchanged (a value the
service rewrote meanwhile is already under the newest key). Values stored before encryption
was turned on are encrypted on the way.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import crypto

#: (table, key column, encrypted column, binary?)
COLUMNS = (("cases", "id", "id_number", False),
           ("cases", "id", "guardian_phone", False),
           ("line_users", "id", "phone", False),
           ("case_photos", "id", "data", True))
BATCH = 200


def _raw(table: str, key: str, column: str, binary: bool) -> sa.TableClause:
    return sa.table(table, sa.column(key, sa.BigInteger),
                    sa.column(column, sa.LargeBinary if binary else sa.Text))


def rotate(session: Session, batch: int = BATCH) -> dict[str, int]:
    """Re-encrypt every value; returns how many were rewritten per column. Commits per
    batch."""
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
                break
            for row_id, stored in rows:
                done += session.execute(
                    sa.update(raw).where(pk == row_id, value == stored)
                    .values({column: rotate_one(stored)})).rowcount
            last = rows[-1][0]
            session.commit()
        report[f"{table}.{column}"] = done
    return report
