"""The sender against the emulator over real HTTP: reply or push, retry keys, faults, quota."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from bot.messages import text
from bot.outbox import queue_multicast, queue_push
from bot.sender import HOLD_KEY
from models import LineUser, OutboxMessage, ServiceState, utcnow
from tests.support import texts, wait_until

USER = "U" + "3" * 32
NOT_UNDERSTOOD_TH = "ขอโทษค่ะ ยังไม่เข้าใจข้อความนี้"


def outbox(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def make_due(session) -> None:
    """Let rows waiting for their backoff go now (the test controls time this way)."""
    session.execute(sa.update(OutboxMessage).values(next_attempt_at=utcnow()))
    session.commit()


def push_now(session, body: str = "แจ้งเตือน") -> OutboxMessage:
    [row] = queue_push(session, USER, [text(body)])
    session.commit()
    return row


def test_a_fresh_reply_token_is_used_and_the_answer_is_in_thai(emulator, worker, session):
    emulator.text(USER, "ไม่รู้จักข้อความนี้ 🙂")
    worker.burst()
    [item] = emulator.sent(USER)
    assert item["endpoint"] == "reply"
    assert texts([item])[0].startswith(NOT_UNDERSTOOD_TH)
    [row] = outbox(session)
    assert (row.status, row.via, row.attempts) == (OutboxMessage.SENT, "reply", 1)
    assert row.request_id


def test_a_token_older_than_50_seconds_falls_back_to_push_with_its_retry_key(
        emulator, worker, session):
    emulator.text(USER, "hello", age_seconds=55)
    worker.burst()
    [item] = emulator.sent(USER)
    assert item["endpoint"] == "push"
    [row] = outbox(session)
    assert item["retry_key"] == row.retry_key
    assert emulator.requests("reply") == []  # the stale token was not even tried


def test_a_definite_invalid_reply_token_falls_back_to_push(emulator, worker, session):
    emulator.fault("reply", status=400, body={"message": "Invalid reply token"})
    emulator.text(USER, "hello")
    worker.burst()
    assert [i["endpoint"] for i in emulator.sent(USER)] == ["push"]
    [row] = outbox(session)
    assert (row.status, row.via) == (OutboxMessage.SENT, "push")


def test_an_unclear_reply_is_not_doubled(emulator, worker, session):
    # the reply lands but its answer is lost (500 after the work): the retry gets 400
    emulator.fault("reply", status=500, when="after")
    emulator.text(USER, "hello")
    worker.burst()
    make_due(session)
    worker.burst()
    assert [i["endpoint"] for i in emulator.sent(USER)] == ["reply"]
    assert emulator.requests("push") == []
    [row] = outbox(session)
    assert row.status == OutboxMessage.UNCERTAIN
    assert [r["status"] for r in emulator.requests("reply")] == [500, 400]


def test_a_reply_that_failed_before_landing_is_retried_while_fresh(emulator, worker, session):
    emulator.fault("reply", status=503)
    emulator.text(USER, "hello")
    worker.burst()
    make_due(session)
    worker.burst()
    assert [i["endpoint"] for i in emulator.sent(USER)] == ["reply"]
    [row] = outbox(session)
    assert (row.status, row.attempts) == (OutboxMessage.SENT, 2)


def test_push_500_then_success_is_delivered_once_with_one_retry_key(emulator, worker, session):
    row = push_now(session)
    emulator.fault("push", status=500)
    worker.burst()
    assert outbox(session)[0].status == OutboxMessage.PENDING
    make_due(session)
    worker.burst()
    calls = emulator.requests("push")
    assert [c["status"] for c in calls] == [500, 200]
    assert {c["retry_key"] for c in calls} == {row.retry_key}
    assert len(emulator.sent(USER)) == 1
    assert outbox(session)[0].status == OutboxMessage.SENT


def test_push_accepted_but_answer_lost_counts_409_as_delivered(emulator, worker, session):
    push_now(session)
    emulator.fault("push", status=500, when="after")
    worker.burst()
    make_due(session)
    worker.burst()
    assert [c["status"] for c in emulator.requests("push")] == [500, 409]
    assert len(emulator.sent(USER)) == 1
    [row] = outbox(session)
    assert (row.status, row.last_status) == (OutboxMessage.SENT, 409)


def test_a_push_timeout_is_retried_with_the_same_key(emulator, worker, session):
    push_now(session)
    emulator.fault("push", status=200, delay=3.0, when="after")  # read timeout is 2 s in tests
    worker.burst()
    [row] = outbox(session)
    assert row.status == OutboxMessage.PENDING and row.last_status is None
    make_due(session)
    worker.burst()
    assert len(emulator.sent(USER)) == 1
    assert outbox(session)[0].status == OutboxMessage.SENT
    # the first call is still sleeping in the emulator: let it finish inside this test
    wait_until(lambda: len(emulator.requests("push")) == 2)
    assert [c["status"] for c in emulator.requests("push")] == [409, 200]


def test_rate_limit_429_is_retried(emulator, worker, session):
    push_now(session)
    emulator.fault("push", status=429)
    worker.burst()
    make_due(session)
    worker.burst()
    assert [c["status"] for c in emulator.requests("push")] == [429, 200]
    assert outbox(session)[0].status == OutboxMessage.SENT


def test_other_4xx_is_not_retried(emulator, worker, session):
    push_now(session)
    emulator.fault("push", status=400, body={"message": "The request body has 1 error(s)"})
    worker.burst()
    make_due(session)
    worker.burst()
    assert len(emulator.requests("push")) == 1
    assert outbox(session)[0].status == OutboxMessage.FAILED


def test_monthly_limit_holds_pushes_until_the_quota_allows(emulator, worker, session):
    emulator.quota(type="limited", value=1)
    push_now(session, "หนึ่ง")
    push_now(session, "สอง")
    worker.burst()
    assert texts(emulator.sent(USER)) == ["หนึ่ง"]
    make_due(session)
    worker.burst()
    assert [c["status"] for c in emulator.requests("push")] == [200, 429]
    make_due(session)
    worker.burst()  # held: no further call while the hold stands
    assert len(emulator.requests("push")) == 2
    hold = json.loads(session.get(ServiceState, HOLD_KEY).value)
    assert dt.datetime.fromisoformat(hold["until"]) > utcnow()
    # replies are free and still go out
    emulator.text(USER, "hello")
    worker.burst()
    assert emulator.sent(USER)[-1]["endpoint"] == "reply"
    # the quota is raised: at the next check the held push is sent
    emulator.quota(type="none")
    state = session.get(ServiceState, HOLD_KEY)
    hold["recheck"] = (utcnow() - dt.timedelta(seconds=1)).isoformat()
    state.value = json.dumps(hold)
    session.commit()
    make_due(session)
    worker.burst()
    assert texts(emulator.sent(USER, endpoint="push")) == ["หนึ่ง", "สอง"]
    assert session.get(ServiceState, HOLD_KEY).value is None


def test_unfollowed_users_get_no_push_until_they_follow_again(emulator, worker, session):
    emulator.events(user=USER, type="unfollow")
    worker.burst()
    push_now(session, "ไม่ควรถึง")
    worker.burst()
    assert emulator.requests("push") == []
    assert outbox(session)[-1].status == OutboxMessage.SKIPPED
    emulator.events(user=USER, type="follow")
    worker.burst()
    push_now(session, "ถึงแล้ว")
    worker.burst()
    assert texts(emulator.sent(USER, endpoint="push")) == ["ถึงแล้ว"]


def test_standby_events_never_cause_a_message(emulator, worker, session):
    emulator.events(user=USER, mode="standby", type="message",
                    message={"type": "text", "text": "hello"})
    worker.burst()
    assert emulator.sent(USER) == []
    assert outbox(session) == []


def test_multicast_goes_in_batches_of_500_each_with_its_own_key(emulator, worker, session):
    users = [f"U{i:032x}" for i in range(1001)]
    session.add(LineUser(line_user_id=users[7], followed=False))
    queue_multicast(session, users, [text("ประกาศ")])
    session.commit()
    worker.burst()
    calls = emulator.requests("multicast")
    assert [c["status"] for c in calls] == [200, 200, 200]
    assert len({c["retry_key"] for c in calls}) == 3
    items = emulator.sent(endpoint="multicast")
    assert sorted(len(i["to"]) for i in items) == [1, 499, 500]
    assert users[7] not in {u for i in items for u in i["to"]}


def test_loading_animation_only_when_a_handler_asks_for_it(emulator, worker):
    emulator.text(USER, "hello", age_seconds=3)  # waited, but answered at once: no animation
    worker.burst()
    assert emulator.requests("loading") == []
    assert len(emulator.sent(USER)) == 1


def test_the_answer_leaves_with_the_event_not_a_sender_round_later(emulator, worker, session):
    emulator.text(USER, "hello")
    assert worker.handle_inbox() == 1  # handling alone: no sender round ran
    assert [i["endpoint"] for i in emulator.sent(USER)] == ["reply"]
    [row] = outbox(session)
    assert (row.status, row.lease_owner) == (OutboxMessage.SENT, None)


def test_an_answer_left_leased_by_a_dead_worker_is_sent_after_the_lease(emulator, worker,
                                                                       session):
    [row] = queue_push(session, USER, [text("ค้างไว้")])
    row.lease_owner = "dead-worker"
    row.lease_expires_at = utcnow() + dt.timedelta(minutes=1)
    session.commit()
    worker.burst()
    assert emulator.sent(USER) == []  # its lease still holds
    session.execute(sa.update(OutboxMessage).values(
        lease_expires_at=utcnow() - dt.timedelta(seconds=1)))
    session.commit()
    worker.burst()
    assert texts(emulator.sent(USER)) == ["ค้างไว้"]


def test_outcomes_held_back_are_written_together_only_where_the_lease_is_still_held(app,
                                                                                   session):
    """A batch's outcomes (Sender with defer_finish): several rows of one shape written at
    once (one statement on PostgreSQL), a row whose lease another sender took meanwhile left
    as that sender has it, and the times stored as the UTC moments given."""
    from bot.extensions import db
    from bot.line_client import LineClient
    from bot.sender import Sender

    rows = [queue_push(session, USER, [text(f"ผลลัพธ์ {n}")])[0] for n in range(4)]
    session.commit()
    later = utcnow() + dt.timedelta(minutes=1)
    session.execute(sa.update(OutboxMessage).values(lease_owner="me", lease_expires_at=later))
    session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == rows[2].id)
                    .values(lease_owner="someone-else"))
    session.commit()
    sent_at = utcnow().replace(microsecond=123000)
    with app.app_context():
        sender = Sender(db.session, LineClient("http://127.0.0.1:9", "t", (1, 1)), "me",
                        defer_finish=True)
        for row in rows[:3]:
            sender._finish(row.id, status=OutboxMessage.SENT, via="push", sent_at=sent_at,
                           request_id=f"req-{row.id}")
        sender._finish(rows[3].id, status=OutboxMessage.FAILED, last_error="ไม่รับ 🙂")
        sender.finish_deferred()
        db.session.remove()
    kept = {row.id: row for row in outbox(session)}
    for row in (rows[0], rows[1]):
        got = kept[row.id]
        assert (got.status, got.via, got.request_id) == (OutboxMessage.SENT, "push",
                                                         f"req-{row.id}")
        assert got.sent_at == sent_at and got.lease_owner is None
        assert got.lease_expires_at is None
    taken = kept[rows[2].id]
    assert taken.status == OutboxMessage.PENDING and taken.lease_owner == "someone-else"
    failed = kept[rows[3].id]
    assert failed.status == OutboxMessage.FAILED and failed.last_error == "ไม่รับ 🙂"
