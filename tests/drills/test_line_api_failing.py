"""Drill: the LINE API fails (500) for a while; the outbox backs off and then delivers
everything exactly once.

A real `flask --app wsgi worker` process works the inbox and the outbox, with a short backoff
(SENDER_BACKOFF_BASE / SENDER_BACKOFF_CAP) so the drill stays short. The emulator answers 500 to
the first calls of reply, push and multicast; one push lands but its answer is lost (500 after
the work): the retry with the same X-Line-Retry-Key gets 409 and is not sent twice.
"""

from __future__ import annotations

import datetime as dt
import signal

import sqlalchemy as sa

from bot.messages import text
from bot.outbox import queue_multicast, queue_push
from models import OutboxMessage
from tests.support import flask_command, flask_env, texts, wait_until

PUSHED = ["U" + f"{i:x}" * 32 for i in (1, 2, 3)]
TALKING = ["U" + f"{i:x}" * 32 for i in (4, 5)]
BASE, CAP = 0.2, 1.0


def _rows(session) -> list[OutboxMessage]:
    session.expire_all()
    rows = list(session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))
    session.rollback()
    return rows


def test_line_api_failing_for_a_while_backs_off_then_delivers_each_once(app, emulator, session):
    emulator.fault("reply", status=500, count=2)
    emulator.fault("push", status=500, count=4)
    emulator.fault("push", status=500, count=1, when="after")  # lands, answer lost
    emulator.fault("multicast", status=500, count=3)

    for user in PUSHED:
        queue_push(session, user, [text(f"push to {user[:5]}")])
    queue_multicast(session, PUSHED, [text("multicast to all")])
    session.commit()
    for user in TALKING:  # answered by reply, through the webhook and the inbox
        answer = emulator.text(user, "hello drill")
        assert answer["status"] == 200

    env = flask_env(app, SENDER_BACKOFF_BASE=str(BASE), SENDER_BACKOFF_CAP=str(CAP))
    worker = flask_command(["worker"], env)
    try:
        wait_until(lambda: len(_rows(session)) == 6 and all(
            r.status != OutboxMessage.PENDING for r in _rows(session)), timeout=45)
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)

    rows = _rows(session)
    print("\noutbox after the outage:")
    for r in rows:
        print(f"  #{r.id} via={r.via} status={r.status} attempts={r.attempts} "
              f"last_status={r.last_status} last_error={r.last_error!r}")
    assert [r.status for r in rows] == [OutboxMessage.SENT] * 6, err[-3000:]
    # the failures are visible: every push and the multicast took more than one attempt
    paid = [r for r in rows if r.via in ("push", "multicast")]
    assert len(paid) == 4
    assert sum(r.attempts - 1 for r in paid) == 4 + 1 + 3  # one retry per fault taken
    assert any(r.last_error == "409 retry key accepted" for r in paid)
    replies = [r for r in rows if r.via == "reply"]
    assert len(replies) == 2 and sum(r.attempts - 1 for r in replies) == 2

    # the emulator saw the 500s, then each message accepted once
    statuses = {e: [q["status"] for q in emulator.requests(e)] for e in
                ("reply", "push", "multicast")}
    print("LINE API answers:", statuses)
    assert statuses["reply"].count(500) == 2 and statuses["reply"].count(200) == 2
    assert statuses["multicast"] == [500, 500, 500, 200]
    assert statuses["push"].count(500) == 5 and statuses["push"].count(409) == 1
    for user in PUSHED:
        assert sorted(texts(emulator.sent(user))) == sorted(
            [f"push to {user[:5]}", "multicast to all"]), user
    for user in TALKING:
        assert [i["endpoint"] for i in emulator.sent(user)] == ["reply"], user

    # one retry key per row, kept across its retries; each retry waited at least its backoff,
    # base * 2^(n-1) (less at most 20 % jitter), capped
    by_key: dict[str, list[dt.datetime]] = {}
    for q in emulator.requests("push") + emulator.requests("multicast"):
        by_key.setdefault(q["retry_key"], []).append(dt.datetime.fromisoformat(q["at"]))
    assert len(by_key) == 4 and None not in by_key
    gaps = []
    for ats in by_key.values():
        for n, (earlier, later) in enumerate(zip(ats, ats[1:], strict=False), 1):
            wanted = min(CAP, BASE * 2 ** (n - 1)) * 0.8
            gaps.append(((later - earlier).total_seconds(), round(wanted, 2)))
    print("waits between tries (s, at least):", gaps)
    assert len(gaps) == 8
    assert all(waited >= wanted - 0.01 for waited, wanted in gaps)


def test_backoff_settings_default_to_one_second_doubling_up_to_five_minutes(tmp_path):
    from bot.config import load_settings

    settings = load_settings(str(tmp_path), env={})
    assert (settings["SENDER_BACKOFF_BASE"], settings["SENDER_BACKOFF_CAP"]) == (1.0, 300.0)
    tuned = load_settings(str(tmp_path), env={"SENDER_BACKOFF_BASE": "0.2",
                                              "SENDER_BACKOFF_CAP": "1"})
    assert (tuned["SENDER_BACKOFF_BASE"], tuned["SENDER_BACKOFF_CAP"]) == (0.2, 1.0)
