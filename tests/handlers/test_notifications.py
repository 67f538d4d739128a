"""Notifications through the real path: a workflow change queues them in its transaction, the
worker renders them in each recipient's language and pushes them to the emulator; a parent's
"did you receive it?" answer is handled as a postback."""

from __future__ import annotations

import datetime as dt
import re
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from bot.extensions import db
from bot.thai_text import thai_date, thai_time
from models import (
    BANGKOK,
    Agency,
    Case,
    CaseGuardian,
    CaseService,
    LineUser,
    OutboxMessage,
    Referral,
    TimelineEntry,
    utcnow,
)
from services import accounts, cases, workflow
from services.access import Actor
from tests.support import Chat

NAM_PHONG = "400701"  # ตำบลน้ำพอง, อำเภอน้ำพอง (4007)
THAI = re.compile(r"[\u0E00-\u0E7F]")


# -- helpers (test_officer_work.py uses them too) --------------------------------------------

@contextmanager
def work(app):
    """The app's own session in a fresh app context; committed at the end (the workflow
    never commits: its callers do)."""
    with app.app_context():
        try:
            yield db.session
            db.session.commit()
        finally:
            db.session.remove()


_serial = iter(range(1, 10_000))


def add_user(session, role: str | None, language: str = "th", followed: bool = True,
             name: str | None = None) -> LineUser:
    n = next(_serial)
    user = LineUser(line_user_id=f"U{n:04d}{'e7' * 14}", role=role, language=language,
                    followed=followed, full_name=name or f"ผู้ใช้ทดสอบ {n}",
                    phone="0891112222", subdistrict_code=NAM_PHONG, registered_at=utcnow())
    session.add(user)
    session.flush()
    return user


def add_case(session, secret: str, reporter: LineUser, name: str, *,
             group: str = "out_of_school", subdistrict: str = NAM_PHONG) -> Case:
    """A case reported with consent through the real reporting service."""
    n = next(_serial)
    birth = dt.date(2011, 5, 1) if group == "out_of_school" else dt.date(2023, 3, 1)
    draft = cases.CaseDraft(
        target_group=group, child_name=name, subdistrict_code=subdistrict,
        submission_key=f"notify-test-{n}", sex="male", birth_date=birth,
        birth_precision="day", guardian_name="บัวพันธ์ ใจดี", guardian_phone="0812345678",
        guardian_relation="mother", village="บ้านโนน", village_no=3,
        situations=["dropped_out"], consent=True)
    return cases.submit_report(session, secret, reporter, draft, now=utcnow()).case


def add_officer(session, agency: str, area: str, line: LineUser | None = None,
                role: str = "officer") -> Actor:
    n = next(_serial)
    officer = accounts.create_officer(session, f"{agency.lower()}{n}", "correct horse 1",
                                      role, agency, area)
    if line is not None:
        officer.line_user_id = line.id
    session.flush()
    return Actor.for_officer(officer, via="test")


def received(emulator, user_id: str, after: int = 0) -> tuple[list[dict], int]:
    """The messages pushed or replied to a user after `after`, and the last seq seen."""
    items = emulator.sent(user_id, after=after)
    last = max([after, *(i["seq"] for i in items)])
    messages = [m for i in items for m in i["messages"]]
    for message in messages:  # LINE's limits hold for everything sent
        assert message["type"] != "text" or len(message["text"]) <= 5000
        for item in message.get("quickReply", {}).get("items", []):
            assert len(item["action"]["label"]) <= 20
        assert len(message.get("quickReply", {}).get("items", [])) <= 13
    return messages, last


def one_text(messages: list[dict]) -> str:
    assert len(messages) == 1 and messages[0]["type"] == "text", messages
    return messages[0]["text"]


# -- fixtures --------------------------------------------------------------------------------

@pytest.fixture
def world(app):
    """A volunteer's case in ตำบลน้ำพอง (owned by LEARN of อำเภอน้ำพอง), a linked parent, and
    LINE-linked officers of LEARN and OBEC for that district."""
    secret = app.config["SECRET_KEY"]
    with work(app) as s:
        volunteer = add_user(s, "volunteer", name="สมศรี อาสาดี")
        parent = add_user(s, "parent", name="บัวพันธ์ ใจดี")
        learn_line = add_user(s, "officer")
        obec_line = add_user(s, "officer")
        case = add_case(s, secret, volunteer, "สมชาย ดีมาก")
        s.add(CaseGuardian(case_id=case.id, line_user_id=parent.id))
        learn = add_officer(s, "LEARN", "4007", learn_line)
        obec = add_officer(s, "OBEC", "4007", obec_line)
        ids = {"volunteer": volunteer.line_user_id, "parent": parent.line_user_id,
               "parent_id": parent.id, "learn_line": learn_line.line_user_id,
               "obec_line": obec_line.line_user_id, "case": case.id,
               "reference": case.reference, "volunteer_id": volunteer.id}
    return {**ids, "learn": learn, "obec": obec}


def act(app, world, change) -> None:
    """Run `change(session, case)` in one committed transaction."""
    with work(app) as s:
        change(s, s.get(Case, world["case"]))


# -- volunteers ------------------------------------------------------------------------------

def test_the_volunteer_hears_each_stage_with_the_reference_and_the_office(app, world,
                                                                          emulator, worker):
    learn, obec, ref, who = world["learn"], world["obec"], world["reference"], world["volunteer"]

    act(app, world, lambda s, c: workflow.transition(s, learn, c, "verifying"))
    worker.burst()
    messages, seen = received(emulator, who)
    body = one_text(messages)
    assert body.startswith(f"เรื่องของน้องสมชาย (เลขที่เรื่อง {ref}) มีความคืบหน้าค่ะ")
    assert "สถานะ: กำลังตรวจสอบข้อมูล" in body
    assert "หน่วยงานที่ดูแล: สกร." in body
    assert "ดีมาก" not in body  # the first name only

    act(app, world, lambda s, c: workflow.refer(s, learn, c, "OBEC", "ต้องการกลับเข้าโรงเรียน"))
    worker.burst()
    messages, seen = received(emulator, who, seen)
    body = one_text(messages)
    assert "สถานะ: ส่งเรื่องให้หน่วยงานแล้ว" in body and "ส่งต่อให้: สพป./สพม." in body
    assert "ต้องการกลับเข้าโรงเรียน" not in body  # the reason is an internal note

    with work(app) as s:
        referral = s.scalar(sa.select(Referral))
        workflow.accept_referral(s, obec, referral)
    worker.burst()
    messages, seen = received(emulator, who, seen)
    body = one_text(messages)
    assert "ตอนนี้มีหน่วยงานใหม่รับดูแลเรื่องนี้แล้วค่ะ" in body
    assert "หน่วยงานที่ดูแล: สพป./สพม." in body

    act(app, world, lambda s, c: workflow.transition(s, obec, c, "in_support"))
    worker.burst()
    messages, seen = received(emulator, who, seen)
    assert "สถานะ: กำลังช่วยเหลือ" in one_text(messages)

    given = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)
    act(app, world, lambda s, c: workflow.record_service(
        s, obec, c, "school_enrolment", provided_on=given))
    worker.burst()
    messages, seen = received(emulator, who, seen)
    body = one_text(messages)
    assert f"น้องได้รับความช่วยเหลือ: เข้าเรียนในโรงเรียน วันที่ {thai_date(given)}" in body
    assert str(given.year + 543) in body
    assert "quickReply" not in messages[0]  # only parents are asked to confirm

    act(app, world, lambda s, c: workflow.transition(s, obec, c, "follow_up"))
    worker.burst()
    messages, seen = received(emulator, who, seen)
    assert "สถานะ: กำลังติดตามผล" in one_text(messages)


@pytest.fixture
def learn_phone(app):
    """LEARN with a phone number for this test (reference data: put back afterwards)."""
    with work(app) as s:
        s.get(Agency, "LEARN").phone = "043-000-000"
    yield "043-000-000"
    with work(app) as s:
        s.get(Agency, "LEARN").phone = None


def test_the_office_phone_is_given_when_it_is_known(app, world, emulator, worker, learn_phone):
    act(app, world, lambda s, c: workflow.transition(s, world["learn"], c, "verifying"))
    worker.burst()
    messages, _seen = received(emulator, world["volunteer"])
    assert "หน่วยงานที่ดูแล: สกร. โทร 043-000-000" in one_text(messages)
    messages, _seen = received(emulator, world["parent"])
    assert "หน่วยงานที่ดูแล: สกร. โทร 043-000-000" in one_text(messages)


def test_a_user_who_unfollowed_gets_nothing(app, world, emulator, worker):
    with work(app) as s:
        s.scalar(sa.select(LineUser).where(LineUser.line_user_id == world["volunteer"])
                 ).followed = False
    act(app, world, lambda s, c: workflow.transition(s, world["learn"], c, "verifying"))
    worker.burst()
    assert emulator.sent(world["volunteer"]) == []
    assert emulator.sent(world["parent"]) != []  # the others still hear
    with work(app) as s:
        row = s.scalar(sa.select(OutboxMessage).where(
            OutboxMessage.recipient == world["volunteer"]))
        assert (row.kind, row.status) == ("case.volunteer_update", OutboxMessage.SKIPPED)


# -- parents ---------------------------------------------------------------------------------

def test_the_parent_hears_parent_words_and_an_appointment_in_the_buddhist_era(app, world,
                                                                             emulator, worker):
    learn = world["learn"]
    act(app, world, lambda s, c: workflow.transition(s, learn, c, "in_support"))
    worker.burst()
    messages, seen = received(emulator, world["parent"])
    body = one_text(messages)
    assert "สถานะ: กำลังช่วยเหลือ" in body and "หน่วยงานที่ดูแล: สกร." in body
    # never the reporter, the guardian's phone or an ID number
    assert "สมศรี" not in body and "0812345678" not in body

    at = (dt.datetime.now(BANGKOK) + dt.timedelta(days=3)).replace(
        hour=9, minute=30, second=0, microsecond=0)
    act(app, world, lambda s, c: workflow.set_appointment(s, learn, c, at,
                                                          place="กศน.อำเภอน้ำพอง"))
    worker.burst()
    messages, seen = received(emulator, world["parent"], seen)
    body = one_text(messages)
    assert f"นัดหมาย: {thai_date(at.date())} เวลา {thai_time(at)}" in body
    assert "09:30 น." in body and "สถานที่: กศน.อำเภอน้ำพอง" in body
    assert str(at.year + 543) in body


def test_a_parent_confirms_a_service_and_a_stranger_cannot(app, world, emulator, worker):
    learn = world["learn"]
    act(app, world, lambda s, c: workflow.transition(s, learn, c, "in_support"))
    act(app, world, lambda s, c: workflow.record_service(s, learn, c, "scholarship"))
    parent = Chat(emulator, worker, world["parent"])
    messages = parent._answer()
    assert "น้องได้รับความช่วยเหลือ: ทุนการศึกษา" in messages[-1]["text"]
    assert messages[-1]["text"].endswith("ได้รับแล้วใช่ไหมคะ")
    assert parent.labels() == ["ได้รับแล้ว", "ยังไม่ได้รับ"]
    yes = next(a for a in parent.quick_replies() if a["label"] == "ได้รับแล้ว")

    # someone who is not linked to the case taps the same button: nothing changes
    with work(app) as s:
        stranger = add_user(s, "parent").line_user_id
    other = Chat(emulator, worker, stranger)
    emulator.events(user=stranger, type="postback", postback={"data": yes["data"]})
    assert other._answer()[0]["text"].startswith("ขอโทษค่ะ คำถามนี้ตอบได้เฉพาะผู้ปกครอง")
    with work(app) as s:
        assert s.scalar(sa.select(CaseService)).confirmed_at is None

    # "not yet" confirms nothing, goes on the timeline, and the officers in charge are told
    assert parent.tap("ยังไม่ได้รับ")[0]["text"].startswith(
        "ขอบคุณที่แจ้งค่ะ เราบอกหน่วยงานที่ดูแลเคสของน้องสมชาย ให้ตรวจสอบแล้ว")
    with work(app) as s:
        assert s.scalar(sa.select(CaseService)).confirmed_at is None
        kinds = s.scalars(sa.select(TimelineEntry.kind).where(
            TimelineEntry.case_id == world["case"])).all()
        assert kinds.count("not_received") == 1
    messages, _seen = received(emulator, world["learn_line"])
    assert any(m["text"] == f"ผู้ปกครองของน้องสมชาย (เลขที่เรื่อง {world['reference']}) "
               "แจ้งว่ายังไม่ได้รับ: ทุนการศึกษา กรุณาตรวจสอบด้วยค่ะ" for m in messages)

    emulator.events(user=world["parent"], type="postback", postback={"data": yes["data"]})
    answer = parent._answer()
    assert answer[0]["text"] == ("ขอบคุณค่ะ บันทึกแล้วว่าน้องสมชาย ได้รับความช่วยเหลือแล้ว: "
                                 "ทุนการศึกษา")
    with work(app) as s:
        service = s.scalar(sa.select(CaseService))
        assert service.confirmed_at is not None and service.confirmed_by == world["parent"]
        kinds = s.scalars(sa.select(TimelineEntry.kind).where(
            TimelineEntry.case_id == world["case"])).all()
        assert kinds.count("confirmation") == 1
    # the officers in charge are told
    messages, _seen = received(emulator, world["learn_line"])
    assert any(m["text"] == f"ผู้ปกครองของน้องสมชาย (เลขที่เรื่อง {world['reference']}) "
               "ยืนยันว่าได้รับแล้วค่ะ: ทุนการศึกษา" for m in messages)

    # a second tap records nothing more
    emulator.events(user=world["parent"], type="postback", postback={"data": yes["data"]})
    assert parent._answer()[0]["text"] == "ขอบคุณค่ะ เรื่องนี้บันทึกไว้แล้วนะคะ"
    with work(app) as s:
        kinds = s.scalars(sa.select(TimelineEntry.kind).where(
            TimelineEntry.case_id == world["case"])).all()
        assert kinds.count("confirmation") == 1
        # the confirmation is the evidence that lets the case close
        workflow.transition(s, learn, s.get(Case, world["case"]), "closed")
    worker.burst()
    messages, _seen = received(emulator, world["parent"], parent.seen)
    assert "สถานะ: น้องได้รับความช่วยเหลือแล้ว" in one_text(messages)


def test_an_unlinked_parent_gets_no_news_and_cannot_confirm(app, world, emulator, worker):
    with work(app) as s:
        s.scalar(sa.select(CaseGuardian)).unlinked_at = utcnow()
    act(app, world, lambda s, c: workflow.transition(s, world["learn"], c, "in_support"))
    act(app, world, lambda s, c: workflow.record_service(s, world["learn"], c, "scholarship"))
    worker.burst()
    assert emulator.sent(world["parent"]) == []
    with work(app) as s:
        service_id = s.scalar(sa.select(CaseService.id))
    data = f"a=confirm_service&case={world['case']}&service={service_id}&v=yes"
    emulator.events(user=world["parent"], type="postback", postback={"data": data})
    answer = Chat(emulator, worker, world["parent"])._answer()
    assert answer[0]["text"].startswith("ขอโทษค่ะ")
    with work(app) as s:
        assert s.scalar(sa.select(CaseService)).confirmed_at is None


def test_an_english_speaking_parent_hears_english(app, world, emulator, worker):
    with work(app) as s:
        s.get(LineUser, world["parent_id"]).language = "en"
    learn = world["learn"]
    act(app, world, lambda s, c: workflow.transition(s, learn, c, "verifying"))
    act(app, world, lambda s, c: workflow.transition(s, learn, c, "in_support"))
    given = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)
    act(app, world, lambda s, c: workflow.record_service(
        s, learn, c, "health_check", provided_on=given))
    worker.burst()
    messages, _seen = received(emulator, world["parent"])
    first, _second, third = (m["text"] for m in messages)
    assert first.startswith(f"News about Nong สมชาย (reference {world['reference']}).")
    assert "Status: Checking the information" in first
    assert "Office in charge: Office of Learning Promotion" in first
    assert f"Help given: A health check ({given.day} {given:%b} {given.year})" in third
    assert third.endswith("Did you receive it?")
    assert [i["action"]["label"] for i in messages[2]["quickReply"]["items"]] == [
        "Yes, received", "Not yet"]
    # nothing Thai but the child's name
    assert not THAI.search(third.replace("สมชาย", ""))
    # the Thai volunteer still hears Thai
    messages, _seen = received(emulator, world["volunteer"])
    assert messages[0]["text"].startswith("เรื่องของน้องสมชาย")


def test_a_parent_who_reported_their_own_child_hears_parent_news_and_may_confirm(
        app, emulator, worker):
    with work(app) as s:
        parent = add_user(s, "parent")
        case = add_case(s, app.config["SECRET_KEY"], parent, "มะลิ ใจงาม")
        learn = add_officer(s, "LEARN", "4007")
        workflow.transition(s, learn, case, "in_support")
        service = workflow.record_service(s, learn, case, "learn_enrolment")
        user_id, service_id = parent.line_user_id, service.id
    chat = Chat(emulator, worker, user_id)
    messages = chat._answer()
    assert len(messages) == 2 and messages[-1]["text"].endswith("ได้รับแล้วใช่ไหมคะ")
    assert "เข้าเรียนกับ สกร. (กศน.เดิม)" in messages[-1]["text"]
    assert chat.tap("ได้รับแล้ว")[0]["text"].startswith("ขอบคุณค่ะ บันทึกแล้ว")
    with work(app) as s:
        assert s.get(CaseService, service_id).confirmed_at is not None


# -- officers --------------------------------------------------------------------------------

def test_officers_hear_of_referrals_answers_and_volunteer_visits(app, world, emulator, worker):
    learn, obec = world["learn"], world["obec"]
    act(app, world, lambda s, c: workflow.refer(s, learn, c, "OBEC", "อยากกลับไปเรียนต่อ ม.1"))
    worker.burst()
    messages, _seen = received(emulator, world["obec_line"])
    body = one_text(messages)
    assert body.startswith(f"มีเรื่องส่งต่อมาถึงหน่วยงานของคุณค่ะ: น้องสมชาย เลขที่เรื่อง "
                           f"{world['reference']} จาก สกร.")
    assert "เหตุผล: อยากกลับไปเรียนต่อ ม.1" in body
    assert [i["action"]["label"] for i in messages[0]["quickReply"]["items"]] == [
        "รับเรื่อง", "งานของฉัน"]
    assert emulator.sent(world["learn_line"]) == []  # the referring officer is not told

    with work(app) as s:
        workflow.decline_referral(s, obec, s.scalar(sa.select(Referral)), "อยู่นอกเขตบริการ")
    worker.burst()
    messages, seen = received(emulator, world["learn_line"])
    body = one_text(messages)
    assert body.startswith(f"สพป./สพม. ไม่รับเรื่องของน้องสมชาย (เลขที่เรื่อง {world['reference']}) ค่ะ")
    assert "เหตุผล: อยู่นอกเขตบริการ" in body
    assert body.endswith("สถานะ: รับเรื่อง")  # back to the stage it was referred from

    act(app, world, lambda s, c: workflow.refer(s, learn, c, "OBEC", "ลองอีกครั้ง"))
    with work(app) as s:
        referral = s.scalar(sa.select(Referral).where(Referral.status == "pending"))
        workflow.accept_referral(s, obec, referral)
    worker.burst()
    messages, seen = received(emulator, world["learn_line"], seen)
    assert one_text(messages) == (f"สพป./สพม. รับเรื่องของน้องสมชาย (เลขที่เรื่อง "
                                  f"{world['reference']}) ไปดูแลแล้วค่ะ")

    volunteer = Actor(kind="volunteer", name=world["volunteer"],
                      line_user_id=world["volunteer_id"], via="line")
    today = dt.datetime.now(dt.UTC).date()
    act(app, world, lambda s, c: workflow.record_visit(s, volunteer, c, "found",
                                                       visited_on=today))
    worker.burst()
    messages, _seen = received(emulator, world["obec_line"], 0)
    assert messages[-1]["text"] == (
        f"อสม. เยี่ยมบ้านน้องสมชาย (เลขที่เรื่อง {world['reference']}) เมื่อ "
        f"{thai_date(today)} ผลการเยี่ยม: พบน้องที่บ้าน")


def test_every_kind_renders_in_both_languages_without_a_fallback(app):
    """Each renderer, each event and each language: the catalog has every message (Thai
    text has no English words left, English none of the Thai ones)."""
    from flask_babel import force_locale

    from bot.outbox import _renderers

    payload = {"case_id": 1, "reference": "KK-2569-00042", "child": "สมชาย ดีมาก",
               "stage": "referred", "agency": "LEARN", "agency_name_th": "สกร.",
               "agency_name_en": "Office of Learning Promotion", "agency_phone": None,
               "to_agency": "OBEC", "service": "nutrition", "service_id": 3,
               "provided_on": "2026-12-03", "appointment_id": 4,
               "at": "2026-12-05T02:30:00+00:00", "place": "x" * 2000, "referral_id": 5,
               "from_agency": "LOCAL", "reason": "y" * 6000, "answer": "declined",
               "outcome": "moved", "visited_on": "2026-12-01"}
    kinds = ["case.volunteer_update", "case.parent_update", "referral.received",
             "referral.answered", "case.parent_confirmed", "case.visit_recorded"]
    assert set(kinds) <= set(_renderers)
    with app.app_context():
        for kind in kinds:
            for event in ("stage", "accepted", "service", "appointment"):
                for language in ("th", "en"):
                    with force_locale(language):
                        [message] = _renderers[kind]({**payload, "event": event}, None)
                    body = message["text"].replace("สมชาย", "")
                    assert len(body) < 1500  # free text is cut
                    if language == "en":
                        assert not THAI.search(body), body
                    else:
                        assert THAI.search(body) and "Nong" not in body, body
