"""The worker: order per user, idempotent handling, two processes racing, a killed worker."""

from __future__ import annotations

import json
import signal
import threading
import time

import sqlalchemy as sa
from linebot.v3.webhooks import MessageEvent, TextMessageContent

from bot.dispatch import Dispatcher
from bot.extensions import db
from bot.messages import text
from bot.outbox import queue_push
from bot.worker import Worker
from models import InboxEvent, InboxLease, LineUser, OutboxMessage
from tests.support import flask_command, flask_env, texts, wait_until

USER = "U" + "1" * 32
OTHER = "U" + "2" * 32


def recording_worker(app, seen: list) -> Worker:
    dispatcher = Dispatcher()

    @dispatcher.add(MessageEvent, message=TextMessageContent)
    def record(ctx):
        seen.append(ctx.event.message.text)
        ctx.reply(text("ok:" + ctx.event.message.text))

    return Worker(app, dispatcher, name="recording")


def test_one_users_events_are_handled_in_timestamp_order(app, emulator, session):
    now = int(time.time() * 1000)
    # they arrive out of order: the later event first
    emulator.events(user=USER, events=[{"type": "message", "timestamp": now,
                                        "message": {"type": "text", "text": "second"}}])
    emulator.events(user=USER, events=[{"type": "message", "timestamp": now - 500,
                                        "message": {"type": "text", "text": "first"}}])
    seen: list[str] = []
    with app.app_context():
        recording_worker(app, seen).burst()
    assert seen == ["first", "second"]
    assert texts(emulator.sent(USER)) == ["ok:first", "ok:second"]


def test_follow_state_follows_event_time_not_arrival(app, emulator, worker, session):
    now = int(time.time() * 1000)
    emulator.events(user=USER, type="unfollow", timestamp=now)
    emulator.events(user=USER, type="follow", timestamp=now - 1000)
    worker.burst()
    user = session.scalar(sa.select(LineUser).where(LineUser.line_user_id == USER))
    assert user.followed is False


def test_events_already_handled_are_not_handled_again(app, emulator, worker, session):
    answer = emulator.text(USER, "สวัสดี")
    worker.burst()
    event_id = answer["events"][0]["webhookEventId"]
    again = emulator.events(redeliver=[event_id])
    assert again["status"] == 200
    assert worker.burst() == 0
    assert len(emulator.sent(USER)) == 1
    row = session.scalar(sa.select(InboxEvent).where(InboxEvent.webhook_event_id == event_id))
    assert (row.status, row.attempts) == (InboxEvent.DONE, 1)


def test_a_failing_handler_is_retried_and_later_events_wait(app, emulator, session):
    calls: list[str] = []
    dispatcher = Dispatcher()

    @dispatcher.add(MessageEvent, message=TextMessageContent)
    def flaky(ctx):
        calls.append(ctx.event.message.text)
        if ctx.event.message.text == "boom" and calls.count("boom") == 1:
            raise RuntimeError("handler bug")
        ctx.reply(text("ok"))

    emulator.text(USER, "boom")
    emulator.text(USER, "after")
    with app.app_context():
        worker = Worker(app, dispatcher, name="flaky")
        worker.burst()
        assert calls == ["boom"]  # "after" waits behind the failed event
        session.execute(sa.update(InboxEvent).values(available_at=None))
        session.commit()
        worker.burst()
    assert calls == ["boom", "boom", "after"]
    rows = session.scalars(sa.select(InboxEvent).order_by(InboxEvent.occurred_ms)).all()
    assert [(r.status, r.attempts) for r in rows] == [(InboxEvent.DONE, 2), (InboxEvent.DONE, 1)]
    assert "handler bug" in rows[0].last_error


def test_a_worker_cannot_commit_after_its_lease_was_taken_over(app, emulator, session):
    emulator.text(USER, "hello")
    dispatcher = Dispatcher()

    @dispatcher.add(MessageEvent, message=TextMessageContent)
    def stolen(ctx):
        # while this worker works, its lease expires and another worker takes the user
        ctx.session.execute(
            sa.update(InboxLease).where(InboxLease.user_key == USER).values(owner="thief")
        )
        ctx.reply(text("late"))

    with app.app_context():
        Worker(app, dispatcher, name="slowpoke").handle_inbox()
    session.expire_all()
    row = session.scalar(sa.select(InboxEvent))
    assert row.status == InboxEvent.PENDING
    assert session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def _probe_env(app, tmp_path, **extra):
    return flask_env(app, PROBE_LOG=str(tmp_path / "probe.jsonl"), WORKER_LEASE_SECONDS="2",
                     **extra)


def _probe_log(tmp_path) -> list[dict]:
    path = tmp_path / "probe.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_worker_processes_never_share_a_user_and_keep_order(app, emulator, session,
                                                                tmp_path):
    env = _probe_env(app, tmp_path, PROBE_PAUSE="0.03")
    workers = [flask_command(["worker"], env, app_module="tests.apps.probe_app")
               for _ in range(2)]
    try:
        base = int(time.time() * 1000)
        for i in range(20):
            for user in (USER, OTHER):
                emulator.events(user=user, events=[{
                    "type": "message", "timestamp": base + i,
                    "message": {"type": "text", "text": f"{user[-1]}-{i:02d}"}}])
        wait_until(lambda: len(_probe_log(tmp_path)) >= 40, timeout=60)
        wait_until(lambda: len(emulator.sent(USER)) + len(emulator.sent(OTHER)) >= 40,
                   timeout=60)
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        for proc in workers:
            proc.communicate(timeout=30)
    handled = _probe_log(tmp_path)
    assert len(handled) == 40
    assert len({h["id"] for h in handled}) == 40, "an event was handled twice"
    for user in (USER, OTHER):
        mine = [h for h in handled if h["user"] == user]
        assert [h["ts"] for h in mine] == sorted(h["ts"] for h in mine)
        for earlier, later in zip(mine, mine[1:], strict=False):
            assert earlier["end"] <= later["start"], "two workers ran one user's events at once"
        sent = texts(emulator.sent(user))
        assert sent == [f"probe:{user[-1]}-{i:02d}" for i in range(20)]
    session.expire_all()
    statuses = session.scalars(sa.select(InboxEvent.status)).all()
    assert statuses == [InboxEvent.DONE] * 40


def test_a_worker_killed_between_claim_and_commit_loses_nothing(app, emulator, session,
                                                               tmp_path):
    env = _probe_env(app, tmp_path)
    emulator.text(USER, "kill-me")
    emulator.text(USER, "next")
    first = flask_command(["worker", "--burst"], env, app_module="tests.apps.probe_app")
    first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL
    session.expire_all()
    lease = session.get(InboxLease, USER)
    assert lease.owner is not None  # the dead worker's lease is still there
    session.rollback()  # end the read: on SQLite it holds the write lock
    assert emulator.sent(USER) == []  # its uncommitted reply was never sent
    time.sleep(2.2)  # the lease expires
    second = flask_command(["worker", "--burst"], env, app_module="tests.apps.probe_app")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert texts(emulator.sent(USER)) == ["probe:kill-me", "probe:next"]
    session.expire_all()
    rows = session.scalars(sa.select(InboxEvent).order_by(InboxEvent.occurred_ms)).all()
    assert [r.status for r in rows] == [InboxEvent.DONE, InboxEvent.DONE]


def _two_messages_each(emulator, users) -> None:
    base = int(time.time() * 1000)
    for i in range(2):
        for user in users:
            emulator.events(user=user, events=[{
                "type": "message", "timestamp": base + i,
                "message": {"type": "text", "text": f"{user[-1]}-{i:02d}"}}])


def test_a_batchs_replies_to_different_users_go_side_by_side_each_users_in_order(
        app, emulator, session):
    """One batch, two users with two events each: while LINE is slow to take the first user's
    first reply, the second user's replies go (bot.sender: a pool of threads), and each
    user's replies still land in the order of their events."""
    seen: list[str] = []
    _two_messages_each(emulator, (USER, OTHER))
    first = session.scalar(sa.select(InboxEvent).where(InboxEvent.user_key == USER)
                           .order_by(InboxEvent.occurred_ms))
    slow_token = json.loads(first.payload)["replyToken"]
    session.rollback()
    with app.app_context():
        worker = recording_worker(app, seen)
        real_reply = worker.client.reply

        def reply(token, messages):
            if token == slow_token:
                time.sleep(1.5)  # LINE takes its time with this one, then takes it
            return real_reply(token, messages)

        worker.client.reply = reply
        assert worker.handle_inbox() == 4
    assert seen == ["1-00", "1-01", "2-00", "2-01"]  # handled in one batch, in queue order
    landed = [(to, m["text"]) for item in emulator.sent() for to in item["to"]
              for m in item["messages"]]
    assert landed == [(OTHER, "ok:2-00"), (OTHER, "ok:2-01"),
                      (USER, "ok:1-00"), (USER, "ok:1-01")]
    session.expire_all()
    assert session.scalars(sa.select(OutboxMessage.status)).all() == [OutboxMessage.SENT] * 4


def test_a_refused_reply_is_pushed_before_the_same_users_next_reply(app, emulator, session):
    """The first reply of a batch is refused (a used token): its push goes before that
    user's next reply, which waits for it rather than going ahead on another thread."""
    seen: list[str] = []
    _two_messages_each(emulator, (USER,))
    emulator.fault("reply", status=400, body={"message": "Invalid reply token"})
    with app.app_context():
        assert recording_worker(app, seen).handle_inbox() == 2
    sent = emulator.sent(USER)
    assert [(item["endpoint"], texts([item])) for item in sent] == [
        ("push", ["ok:1-00"]), ("reply", ["ok:1-01"])]
    session.expire_all()
    rows = session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(r.status, r.via) for r in rows] == [(OutboxMessage.SENT, "push"),
                                                (OutboxMessage.SENT, "reply")]


def test_a_batchs_replies_are_made_while_the_next_batch_is_handled(app, emulator, session):
    """Batches of one event: while LINE is slow with the first batch's reply, the next batch
    is handled (the worker does not wait for the call), and the user's replies still land in
    the order of the events, every outcome recorded when the round ends."""
    _two_messages_each(emulator, (USER,))
    seen: list[str] = []
    next_handled = threading.Event()
    waited: list[bool] = []
    dispatcher = Dispatcher()

    @dispatcher.add(MessageEvent, message=TextMessageContent)
    def record(ctx):
        seen.append(ctx.event.message.text)
        if ctx.event.message.text == "1-01":
            next_handled.set()
        ctx.reply(text("ok:" + ctx.event.message.text))

    with app.app_context():
        worker = Worker(app, dispatcher, name="pipelined")
        worker.batch_events = 1
        real_reply = worker.client.reply

        def reply(token, messages):
            if messages[0]["text"] == "ok:1-00":  # slow: the next event is handled meanwhile
                waited.append(next_handled.wait(5))
            return real_reply(token, messages)

        worker.client.reply = reply
        assert worker.handle_inbox() == 2
    assert waited == [True]
    assert seen == ["1-00", "1-01"]
    assert texts(emulator.sent(USER)) == ["ok:1-00", "ok:1-01"]
    session.expire_all()
    assert session.scalars(sa.select(OutboxMessage.status)).all() == [OutboxMessage.SENT] * 2
    assert session.scalars(sa.select(InboxLease.owner)).all() == [None]  # given back after


def test_a_busy_worker_looks_for_due_pushes_only_every_poll_interval(app, emulator, session):
    """`flask worker` (run_once(poll_outbox=False)): a round that handled inbox events looks
    for due outbox rows only if the last look was WORKER_OUTBOX_POLL_MS ago; a round with
    nothing in the inbox always looks."""
    seen: list[str] = []
    with app.app_context():
        worker = recording_worker(app, seen)
        worker.outbox_every = 3600.0  # the interval never passes by itself in this test
        emulator.text(USER, "a")
        queue_push(db.session, USER, [text("first push")])
        db.session.commit()
        # work done: the event, its reply and the push (the first look)
        assert worker.run_once(poll_outbox=False) == 3
        emulator.text(USER, "b")
        queue_push(db.session, USER, [text("second push")])
        db.session.commit()
        assert worker.run_once(poll_outbox=False) == 2  # no look: busy, and looked lately
        assert texts(emulator.sent(USER, endpoint="push")) == ["first push"]
        worker.next_outbox = 0.0  # the interval has passed
        emulator.text(USER, "c")
        assert worker.run_once(poll_outbox=False) == 3
        assert texts(emulator.sent(USER, endpoint="push")) == ["first push", "second push"]
        queue_push(db.session, USER, [text("third push")])
        db.session.commit()
        assert worker.run_once(poll_outbox=False) == 1  # nothing in the inbox: it looks
    assert texts(emulator.sent(USER, endpoint="push")) == [
        "first push", "second push", "third push"]
    assert seen == ["a", "b", "c"]


def test_users_beyond_a_batchs_read_ahead_are_made_once_and_answered(app, emulator, session):
    """A batch reads ahead the users of only as many events as the batch before it handled
    (Worker._ahead); the users of the events after those are read, or made, one at a time
    (Worker._user): each new user gets one LineUser row, followed, and every event its
    answer."""
    users = ["U" + f"{n:x}" * 32 for n in range(3, 10)]  # seven new users
    for user in users:
        emulator.text(user, "สวัสดีค่ะ " + user[-4:])
    seen: list[str] = []
    with app.app_context():
        worker = recording_worker(app, seen)
        worker._ahead = 2  # as after a batch of one: the read-ahead covers two users
        asked: list[int] = []
        load_users = worker._load_users
        worker._load_users = lambda ids: asked.append(len(ids)) or load_users(ids)
        assert worker.handle_inbox() == 7
    assert asked == [2, 1, 1, 1, 1, 1]  # the read-ahead's two, then one by one
    assert seen == ["สวัสดีค่ะ " + user[-4:] for user in users]
    rows = session.execute(sa.select(LineUser.line_user_id, LineUser.followed)
                           .order_by(LineUser.line_user_id)).all()
    assert rows == [(user, True) for user in sorted(users)]
    for user in users:
        assert texts(emulator.sent(user)) == ["ok:สวัสดีค่ะ " + user[-4:]]
