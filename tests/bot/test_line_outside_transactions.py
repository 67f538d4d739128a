"""No LINE call is made inside a database transaction (DESIGN.md §6), and an answer whose
worker died is neither lost nor doubled.

A step that needs something from LINE (the photo a volunteer sent, this month's quota) asks
the context for it; the worker rolls the step back, calls LINE with no transaction open, and
runs the step again. Before, the report's confirm showed the loading animation and fetched
the photo while the step's transaction held SQLite's write lock (the draft's deletion was
already flushed) or PostgreSQL's lock on the draft row, for as long as LINE took.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from linebot.v3.webhooks import MessageEvent, TextMessageContent

from bot.dispatch import Dispatcher
from bot.extensions import db
from bot.messages import text
from bot.worker import Worker
from models import Case, CasePhoto, InboxEvent, LineUser, OutboxMessage, utcnow
from tests.handlers.test_report import PNG, bangkok_today, be_date
from tests.support import Chat, texts

VOLUNTEER = "U" + "c3" * 16
USER = "U" + "c4" * 16


def others_can_write(app, session, line_user_id: str) -> bool:
    """Can another connection write now, without waiting? SQLite: take the write lock;
    PostgreSQL: lock the user's draft row (NOWAIT)."""
    url = app.config["TEST_DATABASE_URL"]
    if url.startswith("sqlite"):
        other = sqlite3.connect(urlsplit(url).path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return False
        finally:
            other.close()
    try:
        session.execute(sa.text("SELECT 1 FROM conversation_states WHERE line_user_id = :u "
                                "FOR UPDATE NOWAIT"), {"u": line_user_id})
        return True
    except sa.exc.OperationalError as exc:
        assert "could not obtain lock" in str(exc)
        session.rollback()
        return False


def watch_line_calls(app, session, client, line_user_id: str, names: tuple[str, ...]) -> list:
    """Record, for each call of these LineClient methods: its name, whether the worker's
    session was inside a transaction, and whether another connection could write."""
    calls = []
    for name in names:
        real = getattr(client, name)

        def watched(*args, _real=real, _name=name, **kwargs):
            calls.append((_name, db.session().in_transaction(),
                          others_can_write(app, session, line_user_id)))
            return _real(*args, **kwargs)

        setattr(client, name, watched)
    return calls


def press(chat: Chat, card: dict, label: str) -> list[dict]:
    buttons = card["contents"]["footer"]["contents"]
    action = next(b["action"] for b in buttons if b["action"]["label"] == label)
    chat.emulator.events(user=chat.user, type="postback", postback={"data": action["data"]})
    return chat._answer()


def test_the_photo_is_fetched_outside_the_confirms_transaction(app, session, emulator, worker):
    session.add(LineUser(line_user_id=VOLUNTEER, role="volunteer", full_name="สมศรี ใจดี",
                         phone="0812345678", village="บ้านโนนสะอาด", village_no=5,
                         subdistrict_code="400701", registered_at=utcnow(), followed=True))
    session.commit()
    chat = Chat(emulator, worker, VOLUNTEER)
    chat.say("แจ้งเด็ก")
    chat.tap("ไม่ได้เรียน 6-24 ปี")
    chat.say("สมชาย ดีมาก")
    chat.tap("ชาย")
    chat.say(be_date(bangkok_today().replace(year=bangkok_today().year - 15)))
    chat.tap("ไม่มี/ไม่ทราบ")
    chat.say("บัวผัน ใจดี 081-234-5678")
    chat.tap("ปู่ย่าตายาย")
    chat.tap("หมู่บ้านเดียวกับฉัน")
    chat.tap("ออกกลางคัน")
    chat.tap("เสร็จ")
    emulator.events(user=VOLUNTEER, type="message", message={"type": "image"},
                    content_base64=PNG, content_type="image/png")
    chat._answer()
    [card] = chat.tap("ยินยอม")

    calls = watch_line_calls(app, session, worker.client, VOLUNTEER,
                             ("show_loading", "get_content", "quota"))
    [answer] = press(chat, card, "ส่งเรื่อง")

    assert answer["text"].startswith("ส่งเรื่องเรียบร้อยแล้วค่ะ")
    # each call once, with no transaction open and nothing locked against other writers
    assert calls == [("show_loading", False, True), ("get_content", False, True)]
    assert len(emulator.requests("loading")) == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
    photo = session.scalar(sa.select(CasePhoto))
    assert photo.content_type == "image/png" and photo.data.startswith(b"\x89PNG")


def test_a_step_needing_line_runs_again_and_keeps_its_writes_once(app, session, emulator):
    runs = []
    dispatcher = Dispatcher()

    @dispatcher.add(MessageEvent, message=TextMessageContent)
    def needs_content(ctx):
        runs.append(db.session().in_transaction())
        ctx.session.add(LineUser(line_user_id=USER[:-1] + "9", full_name="written by the step"))
        ctx.session.flush()  # a write before the LINE call: the lock the old way held
        found = ctx.content("no-such-message")
        quota = ctx.quota()
        ctx.reply(text(f"content={found} quota={sorted(quota)}"))

    worker = Worker(app, dispatcher, name="needs-line")
    calls = watch_line_calls(app, session, worker.client, USER, ("get_content", "quota"))
    with app.app_context():
        emulator.text(USER, "hello")
        worker.burst()

    assert [name for name, *_ in calls] == ["get_content", "quota"]
    assert [in_transaction for _, in_transaction, _ in calls] == [False, False]
    assert len(runs) == 3  # asked for the content, then the quota, then finished
    assert texts(emulator.sent(USER)) == ["content=None quota=['type', 'used', 'value']"]
    assert session.scalar(sa.select(sa.func.count()).select_from(LineUser).where(
        LineUser.full_name == "written by the step")) == 1
    assert session.scalar(sa.select(InboxEvent.status)) == InboxEvent.DONE


@pytest.mark.parametrize("sender_lease,longest", [(2.0, 2.0), (60.0, 2 + 2 + 5)])
def test_an_answer_is_born_leased_only_as_long_as_its_call_can_take(
        app, session, emulator, monkeypatch, sender_lease, longest):
    """The worker that queued an answer holds it while it sends it: no longer than a sender's
    lease, nor than the call to LINE can take (LINE_TIMEOUT is 2 s + 2 s here), so that if
    the worker dies a sender retries the reply while the token is fresh."""
    monkeypatch.setitem(app.config, "SENDER_LEASE_SECONDS", sender_lease)
    worker = Worker(app, app.extensions["samoe.dispatcher"], name="short-lease")
    monkeypatch.setattr(worker, "_send_now", lambda outgoing, user: None)  # dies before it
    with app.app_context():
        emulator.text(USER, "hello")
        before = utcnow()
        assert worker.handle_inbox() == 1
    [row] = session.scalars(sa.select(OutboxMessage)).all()
    assert row.status == OutboxMessage.PENDING and row.lease_owner == "short-lease"
    assert before < row.lease_expires_at <= before + dt.timedelta(seconds=longest + 1)


@pytest.mark.parametrize("landed", [True, False], ids=["reply-landed", "never-sent"])
def test_an_answer_taken_over_from_a_dead_worker_is_not_doubled_nor_lost(
        app, session, emulator, landed, monkeypatch):
    """The worker committed the answer and died: after the reply reached LINE, or before it
    was sent. Another worker takes the row when its lease runs out."""
    dead = Worker(app, app.extensions["samoe.dispatcher"], name="dead-worker")

    def dies_while_sending(outgoing, user):
        if landed:
            for row, messages in outgoing:
                assert dead.client.reply(row.reply_token, messages).delivered

    monkeypatch.setattr(dead, "_send_now", dies_while_sending)
    with app.app_context():
        emulator.text(USER, "hello")
        dead.handle_inbox()
        db.session.remove()
    session.execute(sa.update(OutboxMessage).values(
        lease_expires_at=utcnow() - dt.timedelta(seconds=1)))

    with app.app_context():
        Worker(app, app.extensions["samoe.dispatcher"], name="next-worker").burst()

    [row] = session.scalars(sa.select(OutboxMessage)).all()
    endpoints = [item["endpoint"] for item in emulator.sent(USER)]
    assert endpoints == ["reply"]  # once, and never pushed on top
    assert emulator.requests("push") == []
    replies = [r["status"] for r in emulator.requests("reply")]
    if landed:  # the retry finds the token used: it most likely landed, recorded as such
        assert replies == [200, 400]
        assert row.status == OutboxMessage.UNCERTAIN
    else:
        assert replies == [200]
        assert row.status == OutboxMessage.SENT
