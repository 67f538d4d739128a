"""The audit log's keyed chain (services.audit) on each database: sealing in order under the
key, the head kept beside the rows, verifying, and every kind of tampering found by the
command (exit status 1) — a changed row, a row re-hashed with its chain recomputed (without
the key), a removed row in the middle, removed rows at the end, an inserted row, a removed or
forged head, a row slipped in beside the application — the sealer refusing to extend a broken
chain, a race between two sealers, and the key shared by separate processes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
import sqlalchemy as sa

from bot.extensions import db
from models import AuditEntry, ServiceState, utcnow
from services import audit
from services.access import Actor
from tests.support import flask_command, flask_env

WHO = Actor(kind="officer", name="learn.np", role="officer", via="test", ip="10.0.0.1")



def add(s, count: int) -> None:
    for n in range(count):
        audit.record(s, WHO, "case.read", reference=f"KK-2569-{n:05d}", note="น้องสมชาย 🎉")
    s.commit()


def problems(s) -> list[tuple]:
    s.expire_all()
    report = audit.verify(s)
    return [(p["problem"], p.get("seal_seq")) for p in report.problems]


def head(s) -> audit.Head | None:
    return audit.Head.from_text(s.scalar(sa.select(ServiceState.value).where(
        ServiceState.key == audit.HEAD_KEY)))


def verify_command(app) -> tuple[int, dict]:
    """`flask --app wsgi audit verify` in this process (the real command, its exit status)."""
    db.session.rollback()  # the test's own read ends first (on SQLite it holds the lock)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    return result.exit_code, json.loads(result.output.strip().splitlines()[-1])


def unkeyed(previous: str, entry: AuditEntry) -> str:
    """What an attacker without the key can compute: the chain as it was before (SHA-256)."""
    return hashlib.sha256((previous + "\n" + audit.canonical(entry)).encode()).hexdigest()


def test_rows_are_sealed_in_order_under_the_key_and_the_head_follows(s):
    add(s, 5)
    assert audit.seal(s) == 5
    assert audit.seal(s) == 0
    rows = s.scalars(sa.select(AuditEntry).order_by(AuditEntry.seal_seq)).all()
    assert [r.seal_seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.row_hash for a, b in zip(rows, rows[1:], strict=False))
    assert all(r.row_hash == audit.row_mac(r.seal_seq, r.prev_hash, r) for r in rows)
    assert rows[1].row_hash != unkeyed(rows[1].prev_hash, rows[1])
    assert rows[1].row_hash != audit.row_mac(2, rows[1].prev_hash, rows[1], key="another key")
    first = head(s)
    assert (first.seal_seq, first.row_hash) == (5, rows[-1].row_hash) and first.valid()
    add(s, 2)  # later rows chain onto the last, and the head moves with them
    assert audit.seal(s) == 2
    assert head(s).seal_seq == 7 and head(s).started_at == first.started_at
    report = audit.verify(s)
    assert (report.ok, report.checked, report.unsealed) == (True, 7, 0)
    assert report.head == {"seal_seq": 7, "row_hash": head(s).row_hash,
                           "started_at": first.started_at}


def test_an_empty_log_verifies(s):
    report = audit.verify(s)
    assert (report.ok, report.checked, report.head) == (True, 0, None)


def test_a_changed_row_is_found(app, s):
    add(s, 4)
    audit.seal(s)
    s.execute(sa.text("UPDATE audit_log SET actor = 'someone.else' WHERE seal_seq = 2"))
    s.commit()
    assert problems(s) == [("content_changed", 2)]
    code, out = verify_command(app)
    assert code == 1 and out["problems"][0]["problem"] == "content_changed"


def test_a_row_rehashed_with_its_chain_recomputed_without_the_key_is_found(app, s):
    add(s, 4)
    audit.seal(s)
    changed = s.scalars(sa.select(AuditEntry).where(AuditEntry.seal_seq == 2)).one()
    changed.detail = {**changed.detail, "reference": "KK-2569-99999"}
    s.commit()
    for forger in (unkeyed, lambda prev, e: audit.row_mac(e.seal_seq, prev, e, key="guess")):
        rows = s.scalars(sa.select(AuditEntry).order_by(AuditEntry.seal_seq)).all()
        previous = rows[0].row_hash
        for entry in rows[1:]:  # every link after the change made to agree again
            forged = forger(previous, entry)
            s.execute(sa.update(AuditEntry).where(AuditEntry.id == entry.id)
                      .values(prev_hash=previous, row_hash=forged))
            previous = forged
        s.execute(sa.update(ServiceState).where(ServiceState.key == audit.HEAD_KEY).values(
            value=audit.Head.make(4, previous, head(s).started_at, key="guess").as_text()))
        s.commit()
        found = problems(s)
        assert ("content_changed", 2) in found and ("content_changed", 4) in found
        assert ("head_changed", None) in found and ("chain_broken", 3) not in found
        code, _ = verify_command(app)
        assert code == 1


def test_a_row_removed_in_the_middle_is_found(app, s):
    add(s, 4)
    audit.seal(s)
    s.execute(sa.text("DELETE FROM audit_log WHERE seal_seq = 3"))
    s.commit()
    assert problems(s) == [("missing", 3), ("chain_broken", 4)]
    assert verify_command(app)[0] == 1


def test_rows_removed_at_the_end_are_found(app, s):
    add(s, 5)
    audit.seal(s)
    s.execute(sa.text("DELETE FROM audit_log WHERE seal_seq >= 4"))
    s.commit()
    assert problems(s) == [("tail_missing", 4)]
    code, out = verify_command(app)
    assert code == 1 and out["checked"] == 3 and out["head"]["seal_seq"] == 5
    # nor is the chain extended over the gap
    add(s, 1)
    with pytest.raises(audit.ChainError, match="not its last sealed row"):
        audit.seal(s)
    assert s.scalar(sa.select(sa.func.count()).where(AuditEntry.seal_seq.is_(None))) == 1


def test_the_head_removed_or_forged_is_found_and_stops_the_sealer(app, s):
    add(s, 3)
    audit.seal(s)
    stored = s.scalar(sa.select(ServiceState.value).where(ServiceState.key == audit.HEAD_KEY))
    # the last row and the head removed together
    s.execute(sa.text("DELETE FROM audit_log WHERE seal_seq = 3"))
    s.execute(sa.delete(ServiceState).where(ServiceState.key == audit.HEAD_KEY))
    s.commit()
    assert problems(s) == [("head_missing", None)]
    assert verify_command(app)[0] == 1
    add(s, 1)
    with pytest.raises(audit.ChainError, match="no head"):
        audit.seal(s)
    # a head moved back by hand to the row before (its MAC cannot be made without the key)
    old = json.loads(stored)
    row = s.scalars(sa.select(AuditEntry).where(AuditEntry.seal_seq == 2)).one()
    s.add(ServiceState(key=audit.HEAD_KEY, value=json.dumps(
        {**old, "seal_seq": 2, "row_hash": row.row_hash})))
    s.commit()
    assert problems(s) == [("head_changed", None)]
    with pytest.raises(audit.ChainError, match="fails its MAC"):
        audit.seal(s)
    s.rollback()
    assert app.test_cli_runner().invoke(args=["audit", "seal"]).exit_code == 1


def test_an_inserted_row_is_found(app, s):
    add(s, 3)
    audit.seal(s)
    last = s.scalars(sa.select(AuditEntry).where(AuditEntry.seal_seq == 3)).one()
    # a row added at the end, chained as the old code would (no key)
    ghost = AuditEntry(at=utcnow(), actor="ghost", actor_kind="officer", action="case.read",
                       detail={"via": "console"}, seal_seq=4, prev_hash=last.row_hash)
    s.add(ghost)
    s.flush()
    ghost.row_hash = unkeyed(last.row_hash, ghost)
    ghost_id = ghost.id
    s.commit()
    assert problems(s) == [("beyond_head", None)]
    assert verify_command(app)[0] == 1
    # and one slipped in between: the rows after it renumbered to make room
    s.execute(sa.delete(AuditEntry).where(AuditEntry.id == ghost_id))
    s.execute(sa.text("UPDATE audit_log SET seal_seq = seal_seq + 10 WHERE seal_seq >= 2"))
    s.execute(sa.text("UPDATE audit_log SET seal_seq = seal_seq - 9 WHERE seal_seq >= 12"))
    second = s.scalars(sa.select(AuditEntry).where(AuditEntry.seal_seq == 3)).one()
    between = AuditEntry(at=second.at, actor="ghost", actor_kind="officer", action="case.read",
                         detail={"via": "console"}, seal_seq=2,
                         prev_hash=s.scalars(sa.select(AuditEntry.row_hash).where(
                             AuditEntry.seal_seq == 1)).one())
    s.add(between)
    s.flush()
    between.row_hash = audit.row_mac(2, between.prev_hash, between, key="guess")
    s.commit()
    found = problems(s)
    assert ("content_changed", 2) in found and ("content_changed", 3) in found
    assert verify_command(app)[0] == 1


def test_a_row_slipped_in_beside_the_application_is_found(app, s):
    add(s, 2)
    audit.seal(s)
    s.add(AuditEntry(at=utcnow() - dt.timedelta(days=2), actor="ghost", actor_kind="officer",
                     action="case.read", detail={}))
    s.commit()
    report = audit.verify(s)
    assert report.unsealed == 1 and [p["problem"] for p in report.problems] == ["unsealed_old"]
    add(s, 1)  # a fresh row waiting for the sealer is not a problem
    assert [p["problem"] for p in audit.verify(s).problems] == ["unsealed_old"]
    assert verify_command(app)[0] == 1


def test_a_second_sealer_racing_the_first_forks_nothing(s, monkeypatch):
    add(s, 3)
    assert audit.seal(s) == 3
    stale = audit._chain_end(s)
    s.rollback()
    add(s, 2)
    assert audit.seal(s) == 2
    add(s, 2)
    # a sealer that read the chain's end before the first one committed
    monkeypatch.setattr(audit, "_chain_end", lambda session: stale)
    assert audit.seal(s) == 0  # seal_seq 4 is taken: its transaction fails as a whole
    monkeypatch.undo()
    assert s.scalar(sa.select(sa.func.count()).where(AuditEntry.seal_seq.is_(None))) == 2
    assert audit.seal(s) == 2
    report = audit.verify(s)
    assert report.ok and report.checked == 7


def test_verify_follows_a_head_moved_while_it_walks(s, monkeypatch):
    add(s, 3)
    audit.seal(s)
    read = audit._read_head
    calls = []

    def reading(session):  # a sealer commits right after verify first read the head
        calls.append(1)
        if len(calls) == 1:
            found = read(session)
            session.rollback()
            add(session, 2)
            audit.seal(session)
            return found
        return read(session)

    monkeypatch.setattr(audit, "_read_head", reading)
    report = audit.verify(s)
    assert report.ok and report.checked == 5 and report.head["seal_seq"] == 5


def test_a_sealer_in_another_process_uses_the_same_key(app, s):
    add(s, 3)
    s.close()
    sealer = flask_command(["audit", "seal"], flask_env(app))
    out, err = sealer.communicate(timeout=60)
    assert sealer.returncode == 0, err
    assert out.strip().splitlines()[-1] == "3"
    assert "audit chain head: seal_seq=3" in err  # for the operator to compare later
    report = audit.verify(s)  # sealed there, verified here: one key, from SECRET_KEY
    assert report.ok and report.checked == 3 and report.head["seal_seq"] == 3
    # another key (another install's, or a guess) verifies nothing
    assert {p["problem"] for p in audit.verify(s, key="x" * 40).problems} == {
        "content_changed", "head_changed"}
