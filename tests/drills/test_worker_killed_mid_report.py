"""Drill: a worker process SIGKILLed in the middle of a report; nothing lost or doubled.

A volunteer reports a child through the webhook; a `flask --app wsgi worker` process (short
leases) handles the events. It is SIGKILLed twice, each time while it is blocked in a slow LINE
call (an emulator delay fault), and a new worker is started:

1. while it shows the loading animation before fetching the photo of the confirmed report:
   the step was rolled back before LINE was called (no transaction is open during a LINE
   call, so nothing is locked against the webhook meanwhile); the next worker handles the
   confirm again, once, when the lease runs out;
2. while it sends the answer to the confirm (the reply lands at LINE, the answer is lost with
   the worker): the case was committed; when the row's lease runs out the next worker retries
   the reply, LINE refuses the used token, and the row is recorded delivered-uncertain rather
   than pushed a second time.

Afterwards: exactly one case with every answer, one photo, and the "sent" answer once.
"""

from __future__ import annotations

import signal
import subprocess

import pytest
import sqlalchemy as sa

from models import Case, CasePhoto, InboxEvent, LineUser, OutboxMessage, utcnow
from tests.bot.test_line_outside_transactions import others_can_write
from tests.drills.support import worker_process
from tests.handlers.test_report import PNG, bangkok_today, be_date
from tests.support import Chat, flask_env, wait_until

VOLUNTEER = "U" + "e7" * 16
SENT_PREFIX = "ส่งเรื่องเรียบร้อยแล้วค่ะ เลขที่เรื่อง KK-"


class ProcessWorker:
    """The Chat helper's worker: a real worker process; burst() waits until it drained."""

    def __init__(self, app, session, tmp_path):
        self.session = session
        self.env = flask_env(app, WORKER_LEASE_SECONDS="2", SENDER_LEASE_SECONDS="2")
        self.log = tmp_path / "worker.log"
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> None:
        self.proc = worker_process(self.env, self.log)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)

    def idle(self) -> bool:
        self.session.expire_all()
        busy = self.session.scalar(sa.select(sa.func.count()).select_from(InboxEvent).where(
            InboxEvent.status == InboxEvent.PENDING)) + self.session.scalar(
            sa.select(sa.func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status == OutboxMessage.PENDING))
        self.session.rollback()
        return busy == 0

    def burst(self) -> None:
        wait_until(self.idle, timeout=60, interval=0.1)  # a worker starts slowly on a busy machine


@pytest.fixture
def chat(app, session, emulator, tmp_path):
    session.add(LineUser(line_user_id=VOLUNTEER, role="volunteer", full_name="สมศรี ใจดี",
                         phone="0812345678", village="บ้านโนนสะอาด", village_no=5,
                         subdistrict_code="400701", registered_at=utcnow(), followed=True))
    session.commit()
    worker = ProcessWorker(app, session, tmp_path)
    worker.start()
    try:
        yield Chat(emulator, worker, VOLUNTEER)
    finally:
        worker.stop()
        print(f"\nworker output:\n{worker.log.read_text()[-2000:]}")


def sent_answers(emulator) -> list[str]:
    """The "report sent" answers LINE accepted for the volunteer."""
    every = [m for item in emulator.sent(VOLUNTEER) for m in item["messages"]]
    return [m["text"] for m in every
            if m.get("type") == "text" and m["text"].startswith(SENT_PREFIX)]


def fault_taken(emulator, endpoint: str) -> bool:
    """The emulator's fault on this endpoint was taken: a call is inside its delay."""
    response = emulator.http.get(emulator.base + "/api/faults", timeout=10)
    response.raise_for_status()
    return any(f["endpoint"] == endpoint and f["remaining"] == 0
               for f in response.json()["items"])


def _held(session, predicate) -> bool:
    session.expire_all()
    value = predicate()
    session.rollback()
    return value


def test_worker_killed_mid_report_loses_and_doubles_nothing(app, chat, session, emulator):
    worker: ProcessWorker = chat.worker
    birth = be_date(bangkok_today().replace(year=bangkok_today().year - 15))
    chat.say("แจ้งเด็ก")
    chat.tap("ไม่ได้เรียน 6-24 ปี")
    chat.say("สมชาย ดีมาก")
    chat.tap("ชาย")
    chat.say(birth)
    chat.tap("ไม่มี/ไม่ทราบ")
    chat.say("บัวผัน ใจดี 081-234-5678")
    chat.tap("ปู่ย่าตายาย")
    chat.tap("หมู่บ้านเดียวกับฉัน")
    chat.tap("ออกกลางคัน")
    chat.tap("เสร็จ")

    chat.emulator.events(user=VOLUNTEER, type="message", message={"type": "image"},
                         content_base64=PNG, content_type="image/png")
    chat._answer()
    [card] = chat.tap("ยินยอม")
    assert "แนบรูปแล้ว" in card["altText"]

    # the confirm shows the loading animation, fetches the photo, commits the case, answers
    emulator.fault("loading", status=0, delay=8)
    emulator.fault("reply", status=0, delay=8, when="after")
    buttons = card["contents"]["footer"]["contents"]
    action = next(b["action"] for b in buttons if b["action"]["label"] == "ส่งเรื่อง")
    emulator.events(user=VOLUNTEER, type="postback", postback={"data": action["data"]})

    # 1. killed inside the loading call, the confirm's step rolled back before it
    wait_until(lambda: fault_taken(emulator, "loading"), timeout=30)  # 8 s of loading begin
    assert others_can_write(app, session, VOLUNTEER)  # the webhook is not held up meanwhile
    worker.kill()
    count = lambda model: _held(session, lambda: session.scalar(  # noqa: E731
        sa.select(sa.func.count()).select_from(model)))
    assert count(Case) == 0
    assert _held(session, lambda: session.scalar(
        sa.select(InboxEvent.status).order_by(InboxEvent.id.desc()).limit(1))) == "pending"

    # 2. the next worker takes the confirm when the lease expires, commits the case and is
    # killed inside the reply (it lands at LINE; the answer is lost with the worker)
    worker.start()
    wait_until(lambda: count(Case) == 1, timeout=60)
    wait_until(lambda: sent_answers(emulator), timeout=10)  # landed; its answer 8 s away
    worker.kill()
    assert _held(session, lambda: session.scalar(sa.select(OutboxMessage.status).order_by(
        OutboxMessage.id.desc()).limit(1))) == OutboxMessage.PENDING

    # 3. a third worker finishes the work
    worker.start()
    chat._answer()

    assert worker.kills == 2
    session.expire_all()
    [case] = session.scalars(sa.select(Case)).all()
    assert (case.child_name, case.target_group, case.situations) == (
        "สมชาย ดีมาก", "out_of_school", ["dropped_out"])
    assert case.guardian_phone == "0812345678"
    assert case.village_no == 5
    assert session.scalar(sa.select(sa.func.count()).select_from(CasePhoto)) == 1
    answers = sent_answers(emulator)
    assert len(answers) == 1, answers
    assert case.reference in answers[0]
    assert emulator.requests("push") == []
    # the emulator logs a call when it answers: wait for the two delayed ones, so that no
    # log of this drill lands in the next test's emulator
    wait_until(lambda: len(emulator.requests("loading")) == 2 and [
        r["status"] for r in emulator.requests("reply")].count(200) == len(
        emulator.sent(VOLUNTEER, endpoint="reply")), timeout=15)
    statuses = session.scalars(sa.select(InboxEvent.status)).all()
    assert set(statuses) == {InboxEvent.DONE}
    last = session.scalar(sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(1))
    print(f"confirm answer row: status={last.status} attempts={last.attempts} "
          f"last_status={last.last_status}; reply calls: "
          f"{[r['status'] for r in emulator.requests('reply')][-3:]}")
    assert (last.status, last.via, last.last_status) == (OutboxMessage.UNCERTAIN, "reply", 400)
