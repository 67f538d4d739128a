"""The audit log's hash chain (services.audit) on each database: sealing in order, verifying,
and every kind of tampering found — a changed row, a removed row, a re-hashed row, a row
slipped in beside the application — plus a race between two sealers, and the command."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from bot.extensions import db
from models import AuditEntry, utcnow
from services import audit
from services.access import Actor
from tests.support import flask_command, flask_env

WHO = Actor(kind="officer", name="learn.np", role="officer", via="test", ip="10.0.0.1")


@pytest.fixture
def s(app):
    with app.app_context():
        yield db.session
        db.session.rollback()
        db.session.remove()


def add(s, count: int) -> None:
    for n in range(count):
        audit.record(s, WHO, "case.read", reference=f"KK-2569-{n:05d}", note="น้องสมชาย 🎉")
    s.commit()


def problems(s) -> list[tuple]:
    s.expire_all()
    report = audit.verify(s)
    return [(p["problem"], p.get("seal_seq")) for p in report.problems]


def test_rows_are_sealed_in_order_and_the_chain_verifies(s):
    add(s, 5)
    assert audit.seal(s) == 5
    assert audit.seal(s) == 0
    rows = s.scalars(sa.select(AuditEntry).order_by(AuditEntry.seal_seq)).all()
    assert [r.seal_seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.row_hash for a, b in zip(rows, rows[1:], strict=False))
    add(s, 2)  # later rows chain onto the last
    assert audit.seal(s) == 2
    report = audit.verify(s)
    assert (report.ok, report.checked, report.unsealed) == (True, 7, 0)


def test_a_changed_row_is_found(s):
    add(s, 4)
    audit.seal(s)
    s.execute(sa.text("UPDATE audit_log SET actor = 'someone.else' WHERE seal_seq = 2"))
    s.commit()
    assert problems(s) == [("content_changed", 2)]


def test_a_changed_row_with_its_hash_recomputed_breaks_the_next_link(s):
    add(s, 4)
    audit.seal(s)
    entry = s.scalars(sa.select(AuditEntry).where(AuditEntry.seal_seq == 2)).one()
    entry.detail = {**entry.detail, "reference": "KK-2569-99999"}
    s.flush()
    s.refresh(entry)
    forged = audit.row_hash(entry.prev_hash, entry)
    s.execute(sa.update(AuditEntry).where(AuditEntry.id == entry.id).values(row_hash=forged))
    s.commit()
    assert problems(s) == [("chain_broken", 3)]


def test_a_removed_row_is_found(s):
    add(s, 4)
    audit.seal(s)
    s.execute(sa.text("DELETE FROM audit_log WHERE seal_seq = 3"))
    s.commit()
    assert problems(s) == [("missing", 3), ("chain_broken", 4)]


def test_a_row_slipped_in_beside_the_application_is_found(s):
    add(s, 2)
    audit.seal(s)
    s.add(AuditEntry(at=utcnow() - dt.timedelta(days=2), actor="ghost", actor_kind="officer",
                     action="case.read", detail={}))
    s.commit()
    report = audit.verify(s)
    assert report.unsealed == 1 and [p["problem"] for p in report.problems] == ["unsealed_old"]
    add(s, 1)  # a fresh row waiting for the sealer is not a problem
    assert [p["problem"] for p in audit.verify(s).problems] == ["unsealed_old"]


def test_a_second_sealer_racing_the_first_forks_nothing(s, monkeypatch):
    add(s, 3)
    assert audit.seal(s) == 3
    add(s, 2)
    # a sealer that read the chain's end before the first one committed
    monkeypatch.setattr(audit, "_last", lambda session: (2, "f" * 64))
    assert audit.seal(s) == 0  # seal_seq 3 is taken: its transaction fails as a whole
    monkeypatch.undo()
    assert s.scalar(sa.select(sa.func.count()).where(AuditEntry.seal_seq.is_(None))) == 2
    assert audit.seal(s) == 2
    assert audit.verify(s).ok


def test_the_verify_command_exits_1_on_tampering(app, s):
    add(s, 3)
    audit.seal(s)
    s.close()
    ok = flask_command(["audit", "verify"], flask_env(app))
    out, err = ok.communicate(timeout=60)
    assert ok.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["checked"] == 3
    s.execute(sa.text("UPDATE audit_log SET action = 'case.none' WHERE seal_seq = 1"))
    s.commit()
    s.close()
    bad = flask_command(["audit", "verify"], flask_env(app))
    out, err = bad.communicate(timeout=60)
    assert bad.returncode == 1
    assert json.loads(out.strip().splitlines()[-1])["problems"][0] == {
        "seal_seq": 1, "id": json.loads(out.strip().splitlines()[-1])["problems"][0]["id"],
        "problem": "content_changed"}
