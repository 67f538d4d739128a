"""The parent journey through the real webhook and the emulator: linking with a code (Thai
digits, wrong codes and the wait, expired and used codes), status for one and two children,
a reference typed alone, updates after changes made through the domain service, a parent who
blocked the account, unlinking, "my data", and asking for help for one's own child.

Every message a parent receives is checked for what a parent must never see: the reporter's
name, the identity number, internal notes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from bot.extensions import db
from models import Case, CaseGuardian, Consent, ConversationState, LineUser
from services import access, cases, workflow
from tests import factories as f
from tests.support import Chat

PARENT = "U" + "p1" * 16
REPORTER_NAME = "สมศรี อาสาดี"
ID_NUMBER = "1101700230708"  # a valid citizen ID (mod 11)
SECRET_NOTE = "พ่อติดสุรา บันทึกภายใน"
THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


@pytest.fixture
def chat(emulator, worker):
    return Chat(emulator, worker, PARENT)


@pytest.fixture
def world(app):
    """A volunteer's report (with an ID number and an internal note) and its officer."""
    with app.app_context():
        s = db.session
        volunteer = f.line_user(s, name=REPORTER_NAME)
        case = f.report(s, app.config["SECRET_KEY"], volunteer, name="เด็กชายต้นกล้า ใจดี",
                        id_kind="citizen_id", id_number=ID_NUMBER, note="แม่ทำงานต่างจังหวัด")
        learn = f.officer(s, agency="LEARN", area="4007", username="learn.nampong")
        workflow.add_note(s, f.actor(learn), case, SECRET_NOTE)
        s.commit()
        ids = {"case": case.id, "reference": case.reference, "volunteer": volunteer.line_user_id}
        s.remove()
    return ids


def link_code(app, case_id: int, **kw) -> str:
    with app.app_context():
        case = db.session.get(Case, case_id)
        code = cases.issue_link_code(db.session, app.config["SECRET_KEY"], case, "test", **kw)
        db.session.commit()
        db.session.remove()
    return code


def act(app, fn):
    """Run a domain change as the LEARN officer and commit it."""
    with app.app_context():
        s = db.session
        from models import Officer

        officer = s.scalar(sa.select(Officer).where(Officer.username == "learn.nampong"))
        fn(s, f.actor(officer))
        s.commit()
        s.remove()


def case_of(s, case_id):
    return s.get(Case, case_id)


def all_parent_messages(emulator) -> list[dict]:
    return [m for item in emulator.sent(PARENT) for m in item["messages"]]


def assert_nothing_private(messages: list[dict]) -> None:
    blob = json.dumps(messages, ensure_ascii=False)
    for secret in (REPORTER_NAME, "อาสาดี", ID_NUMBER, "1-1017-00230-70-8", SECRET_NOTE,
                   "แม่ทำงานต่างจังหวัด", "ใจดี บัวพันธ์"):
        assert secret not in blob


def flex_texts(message: dict) -> str:
    return json.dumps(message.get("contents", {}), ensure_ascii=False)


def test_a_parent_links_with_a_code_in_thai_digits_and_sees_the_status(app, chat, world,
                                                                        emulator, session):
    code = link_code(app, world["case"])
    chat.follow()
    answer = chat.tap("ผู้ปกครอง")
    assert "รหัส 6 หลัก" in chat.texts()[-1]
    assert "ยังไม่มีรหัส" in chat.labels()
    answer = chat.say(code.translate(THAI_DIGITS))
    assert answer[0]["text"].startswith("เรียบร้อยค่ะ")
    status = answer[1]
    assert status["type"] == "flex"
    body = flex_texts(status)
    assert "น้องต้นกล้า" in body and "รับเรื่องแล้ว" in body and "สกร." in body
    assert world["reference"] in body
    assert "น้องต้นกล้า: รับเรื่องแล้ว" in status["altText"]
    user = session.scalar(sa.select(LineUser).where(LineUser.line_user_id == PARENT))
    assert user.role == "parent"
    assert session.scalar(sa.select(sa.func.count()).select_from(CaseGuardian)) == 1
    # the same code again: used
    chat.say(code)
    assert "ใช้ไปแล้ว" in chat.texts()[0]
    # later, "status" shows it again, and so does the reference typed alone
    assert "รับเรื่องแล้ว" in flex_texts(chat.say("สถานะ")[0])
    assert "น้องต้นกล้า" in flex_texts(chat.say(world["reference"].lower())[0])
    assert_nothing_private(all_parent_messages(emulator))


def test_wrong_codes_then_the_wait_and_an_expired_code(app, chat, world, emulator):
    good = link_code(app, world["case"])
    wrong = "000000" if good != "000000" else "111111"
    chat.follow()
    for _ in range(4):
        assert "ไม่ตรง" in chat.say(wrong)[0]["text"]
    locked = chat.say(wrong)[0]["text"]
    assert "กรุณารอถึง" in locked and "ค่ะ" in locked
    assert "กรุณารอถึง" in chat.say(good)[0]["text"]  # even the right code waits
    old = link_code(app, world["case"], now=dt.datetime.now(dt.UTC) - dt.timedelta(days=8))
    other = Chat(emulator, chat.worker, "U" + "p2" * 16)
    other.follow()
    assert "หมดอายุ" in other.say(old)[0]["text"]


def test_status_with_two_children_is_a_carousel(app, chat, world):
    with app.app_context():
        volunteer = f.line_user(db.session)
        sister = f.report(db.session, app.config["SECRET_KEY"], volunteer,
                          group="early_childhood", name="เด็กหญิงใบบัว ใจดี")
        sister_id = sister.id
        db.session.remove()
    chat.follow()
    chat.say(link_code(app, world["case"]))
    chat.say(link_code(app, sister_id))
    status = chat.say("สถานะ")[0]
    assert status["contents"]["type"] == "carousel"
    names = flex_texts(status)
    assert "น้องต้นกล้า" in names and "น้องใบบัว" in names
    assert "สถจ./อปท." in names  # the little one's case belongs to the local administration


def test_a_reference_of_a_case_not_followed_reveals_nothing(app, chat, world):
    chat.follow()
    chat.tap("ผู้ปกครอง")
    # asked for the link code, a parent types the reference instead: it cannot link
    answer = chat.say(world["reference"])
    assert "เลขที่เรื่อง" in answer[0]["text"] and "รหัสเชื่อมต่อ 6 หลัก" in answer[0]["text"]
    assert "ต้นกล้า" not in json.dumps(answer, ensure_ascii=False)
    chat.say("ยกเลิก")
    # outside the question: a case they do not follow is not shown
    answer = chat.say(world["reference"])
    assert answer[0]["type"] == "text"
    assert "ไม่ใช่เคสที่คุณติดตาม" in answer[0]["text"]
    assert "ต้นกล้า" not in answer[0]["text"]


def test_updates_reach_a_linked_parent_and_stop_when_blocked_or_unlinked(app, chat, world,
                                                                          emulator):
    chat.follow()
    chat.say(link_code(app, world["case"]))
    before = len(emulator.sent(PARENT))
    act(app, lambda s, who: workflow.transition(s, who, case_of(s, world["case"]), "verifying"))
    chat.worker.burst()
    pushed = emulator.sent(PARENT)[before:]
    assert len(pushed) == 1
    assert "กำลังตรวจสอบข้อมูล" in json.dumps(pushed[0]["messages"], ensure_ascii=False)
    # blocked: nothing is sent
    emulator.events(user=PARENT, type="unfollow")
    chat.worker.burst()
    count = len(emulator.sent(PARENT))
    act(app, lambda s, who: workflow.transition(s, who, case_of(s, world["case"]),
                                                "in_support"))
    chat.worker.burst()
    assert len(emulator.sent(PARENT)) == count
    # back again, then unlinked: no more news
    chat.follow()
    chat.say("ยกเลิกการเชื่อมต่อ")
    chat.tap("น้องต้นกล้า")
    assert "จะไม่ได้รับข่าว" in chat.texts()[0]
    count = len(emulator.sent(PARENT))
    act(app, lambda s, who: workflow.record_service(s, who, case_of(s, world["case"]),
                                                    "learn_enrolment"))
    chat.worker.burst()
    assert len(emulator.sent(PARENT)) == count
    assert_nothing_private(all_parent_messages(emulator))


def test_my_data_says_what_is_kept_and_why(app, chat, world):
    chat.follow()
    chat.say(link_code(app, world["case"]))
    answer = chat.say("ข้อมูลของฉัน")[0]["text"]
    assert "น้องต้นกล้า" in answer and world["reference"] in answer
    assert "ทำไม" in answer or "เพื่อ" in answer
    assert ID_NUMBER not in answer and REPORTER_NAME not in answer


def test_a_parent_asks_for_help_for_their_own_child(app, chat, session, emulator):
    chat.follow()
    chat.tap("ผู้ปกครอง")
    chat.tap("ขอความช่วยเหลือ")
    chat.tap("ไม่ได้เรียน 6-24 ปี")
    chat.say("ต้นข้าว")
    chat.say("15 ปี")
    chat.say("อ.ชนบท")
    chat.say("ชนบท")
    chat.say("บ้านโนนสวรรค์ หมู่ 4")
    chat.tap(chat.labels()[0])  # a situation
    chat.tap("เสร็จ")
    chat.say("บัวเรียน ศรีสุข 0891234567")
    draft = session.scalar(sa.select(ConversationState.draft))
    for personal in ("ต้นข้าว", "บัวเรียน", "0891234567"):  # kept encrypted while asked
        assert personal not in draft, personal
    chat.tap(chat.labels()[0])  # relation
    assert "ยินยอม" in chat.texts()[0]
    answer = chat.tap("ยินยอม")[0]["text"]
    assert "ส่งคำขอแล้ว" in answer
    case = session.scalar(sa.select(Case))
    assert case.self_reported and case.subdistrict_code == "401801"
    assert (case.child_name, case.guardian_phone) == ("ต้นข้าว", "0891234567")
    assert case.reference in answer
    # the parents' own statement, a version of its own, covering sharing and follow-up
    consent = session.scalar(sa.select(Consent))
    assert (consent.statement_version, consent.channel) == ("parent-2569-1", "line_parent")
    assert consent.purposes == ["share_with_agencies", "follow_up_contact"]
    guardian = session.scalar(sa.select(CaseGuardian))
    assert guardian.case_id == case.id
    # it is in the queue of that place's learning-promotion office
    with app.app_context():
        officer = f.officer(db.session, agency="LEARN", area="4018")
        seen = db.session.scalars(access.scoped_cases(f.actor(officer))).all()
        assert [c.id for c in seen] == [case.id]
        token = f.token(db.session, officer)
        db.session.remove()
    # marked in the queue as asked by the family, waiting for a visit
    queue = app.test_client().get("/api/v1/cases",
                                  headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [(c["reference"], c["self_reported"], c["needs_visit"]) for c in queue["items"]] == [
        (case.reference, True, True)]
    with app.app_context():
        workflow.record_visit(db.session, f.actor(db.session.merge(officer)),
                              db.session.get(Case, case.id), "found")
        db.session.commit()
        db.session.remove()
    detail = app.test_client().get(f"/api/v1/cases/{case.reference}",
                                   headers={"Authorization": f"Bearer {token}"}).get_json()
    assert (detail["self_reported"], detail["needs_visit"]) == (True, False)
    # and the parent can follow it at once
    assert "น้องต้นข้าว" in flex_texts(chat.say("สถานะ")[0])


def test_saying_no_to_consent_keeps_nothing(app, chat, session):
    chat.follow()
    chat.say("ขอความช่วยเหลือ")
    chat.tap("เด็กเล็ก 0-6 ปี")
    chat.say("ใบข้าว")
    chat.say("3 ขวบ")
    chat.say("น้ำพอง")
    chat.say("น้ำพอง")
    chat.say("บ้านโนน หมู่ 2")
    chat.tap(chat.labels()[0])
    chat.tap("เสร็จ")
    chat.say("บัวเรียน ศรีสุข")
    chat.tap(chat.labels()[0])
    answer = chat.tap("ไม่ยินยอม")[0]["text"]
    assert "ไม่ได้ส่ง" in answer
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_volunteers_are_pointed_to_reporting_not_asking_for_help(app, emulator, worker):
    with app.app_context():
        volunteer = f.line_user(db.session)
        user_id = volunteer.line_user_id
        db.session.remove()
    chat = Chat(emulator, worker, user_id)
    answer = chat.say("ขอความช่วยเหลือ")[0]["text"]
    assert "แจ้ง" in answer
