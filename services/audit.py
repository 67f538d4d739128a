"""The audit log: who read or changed what, when and from where (DESIGN.md §4).

`record` adds a row in the caller's transaction, so a change and its audit row are committed
together. Reads of a case's personal data are recorded the same way, by the adapter that shows
them (the API, the console, LINE). The application never updates or deletes a row.

Integrity: `seal` chains the rows. Rows are added without a hash (so recording never waits on
a lock); the worker seals them every few seconds in the order they were added: each gets the
next `seal_seq`, `prev_hash` (the previous sealed row's hash) and `row_hash` = SHA-256 of the
previous hash and the row's canonical content. `seal_seq` is unique, so two sealers at the same
moment cannot fork the chain (the second one's transaction fails and seals nothing). `verify`
(`flask --app wsgi audit verify`) walks the chain and reports the first row whose content no
longer matches its hash, a link to a previous hash that is not the previous row's, a missing
sequence number (a deleted row), and rows left unsealed for longer than a sealer would leave
them (slipped in beside the application).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from models import AuditEntry, Case, utcnow
from services.access import Actor

GENESIS = "0" * 64
SEAL_BATCH = 1000
#: An unsealed row older than this was not added by the application (the worker seals often).
UNSEALED_SUSPICIOUS = dt.timedelta(hours=1)


def record(session: Session, actor: Actor, action: str, case: Case | None = None,
           **detail) -> AuditEntry:
    """Add one audit row: `action` like `case.read`, `case.transition`, `token.create`."""
    entry = AuditEntry(
        at=utcnow(), actor=actor.name, actor_kind=actor.kind, action=action,
        case_id=case.id if case is not None else None,
        detail={"via": actor.via, **({"reference": case.reference} if case else {}), **detail},
        ip=actor.ip, user_agent=actor.user_agent,
    )
    session.add(entry)
    return entry


def canonical(entry: AuditEntry) -> str:
    """A row's content as one stable string (what its hash covers)."""
    at = entry.at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return json.dumps([entry.id, at, entry.actor, entry.actor_kind, entry.action, entry.case_id,
                       entry.detail, entry.ip, entry.user_agent], ensure_ascii=False,
                      sort_keys=True, separators=(",", ":"), default=str)


def row_hash(previous: str, entry: AuditEntry) -> str:
    return hashlib.sha256((previous + "\n" + canonical(entry)).encode()).hexdigest()


def _last(session: Session) -> tuple[int, str]:
    row = session.execute(
        sa.select(AuditEntry.seal_seq, AuditEntry.row_hash)
        .where(AuditEntry.seal_seq.is_not(None))
        .order_by(AuditEntry.seal_seq.desc()).limit(1)).first()
    return (row.seal_seq, row.row_hash) if row else (0, GENESIS)


def seal(session: Session, limit: int = SEAL_BATCH) -> int:
    """Chain up to `limit` unsealed rows, in the order they were added, and commit. Returns
    how many were sealed (0 when another sealer won the race: nothing is forked)."""
    try:
        seq, previous = _last(session)
        rows = list(session.scalars(sa.select(AuditEntry).where(AuditEntry.seal_seq.is_(None))
                                    .order_by(AuditEntry.id).limit(limit)))
        for entry in rows:
            seq += 1
            entry.seal_seq, entry.prev_hash = seq, previous
            entry.row_hash = previous = row_hash(previous, entry)
        session.commit()
        return len(rows)
    except (IntegrityError, DBAPIError):  # another sealer took these numbers first
        session.rollback()
        return 0


@dataclass
class Verification:
    checked: int = 0
    unsealed: int = 0
    problems: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {"ok": self.ok, "checked": self.checked, "unsealed": self.unsealed,
                "problems": self.problems[:50]}


def verify(session: Session, now: dt.datetime | None = None, batch: int = 5000) -> Verification:
    """Walk the chain in seal order and report every break."""
    now = now or utcnow()
    report = Verification()
    expected_seq, previous = 1, GENESIS
    last_seq = 0
    while True:
        rows = list(session.scalars(
            sa.select(AuditEntry).where(AuditEntry.seal_seq > last_seq)
            .order_by(AuditEntry.seal_seq).limit(batch)))
        if not rows:
            break
        for entry in rows:
            if entry.seal_seq != expected_seq:
                report.problems.append({"seal_seq": expected_seq, "problem": "missing",
                                        "next_found": entry.seal_seq})
            if entry.prev_hash != previous:
                report.problems.append({"seal_seq": entry.seal_seq, "id": entry.id,
                                        "problem": "chain_broken"})
            if entry.row_hash != row_hash(entry.prev_hash or "", entry):
                report.problems.append({"seal_seq": entry.seal_seq, "id": entry.id,
                                        "problem": "content_changed"})
            report.checked += 1
            expected_seq, previous = entry.seal_seq + 1, entry.row_hash or ""
        last_seq = rows[-1].seal_seq
        session.expunge_all()
    unsealed = session.execute(
        sa.select(AuditEntry.id, AuditEntry.at).where(AuditEntry.seal_seq.is_(None))
        .order_by(AuditEntry.id)).all()
    report.unsealed = len(unsealed)
    for row_id, at in unsealed:
        if at < now - UNSEALED_SUSPICIOUS:
            report.problems.append({"id": row_id, "problem": "unsealed_old"})
    return report
