"""Home visits by volunteers through the real webhook and the emulator: the intent as people
type it, the volunteer's cases overdue first (and paged), the a=visit&id postback the
reminders carry, each outcome, notes, photos with and without the guardian's photo consent,
the location, a reference typed, back and cancel, refusals (not a volunteer, someone else's
case, a closed case), the officer in charge told, and the visit on the timeline and in the
REST API."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
import requests
import sqlalchemy as sa

from bot.extensions import db
from models import (
    AuditEntry,
    Case,
    CasePhoto,
    Consent,
    ConversationState,
    InboxEvent,
    LineUser,
    OutboxMessage,
    TimelineEntry,
    Visit,
    utcnow,
)
from services import subject_rights
from tests import factories as f
from tests.support import Chat

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"v" * 64).decode()
OUTCOME_LABELS = {"found": "พบเด็ก", "not_found": "ไม่พบเด็ก", "moved": "ย้ายที่อยู่",
                  "back_in_school": "กลับเข้าเรียนแล้ว", "needs_more_help": "ต้องช่วยเหลือเพิ่ม"}
SKIP = "ไม่มี/ไม่ทราบ"


def bangkok_today() -> dt.date:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=7)).date()


def be(d: dt.date) -> str:
    months = ["ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.",
              "ต.ค.", "พ.ย.", "ธ.ค."]
    return f"{d.day} {months[d.month - 1]} {d.year + 543}"


@pytest.fixture
def volunteer(app, session):
    return f.line_user(session, role="volunteer", name="สมศรี ใจดี")


@pytest.fixture
def chat(volunteer, emulator, worker) -> Chat:
    return Chat(emulator, worker, volunteer.line_user_id)


@pytest.fixture
def officer_line(app, session):
    """A LEARN officer of Nam Phong district, linked to LINE (the out-of-school cases' owner),
    and an API token of theirs."""
    return make_officer(app, session)


def make_case(app, session, reporter: LineUser, name: str, *, due: dt.timedelta | None = None,
              stage: str | None = None, photo: bool = False, **changes) -> Case:
    """A case this reporter made (through the reporting service, in the app's own session:
    it takes savepoints); `due` moves its deadline relative to now."""
    if photo:
        changes["photo"] = ("image/png", b"\x89PNG report photo")
    with app.app_context():
        made = f.report(db.session, app.config["SECRET_KEY"],
                        db.session.get(LineUser, reporter.id), name=name, **changes)
        case_id = made.id
        db.session.remove()
    values = {}
    if due is not None:
        values["due_at"] = utcnow() + due
    if stage is not None:
        values["stage"] = stage
    if values:
        session.execute(sa.update(Case).where(Case.id == case_id).values(**values))
    return session.get(Case, case_id)


def make_officer(app, session, area: str = "4007") -> tuple[LineUser, str]:
    """A LEARN officer of that area linked to LINE, and an API token of theirs."""
    line = f.line_user(session, role="officer", name="เจ้าหน้าที่ สกร.")
    with app.app_context():
        account = f.officer(db.session, agency="LEARN", area=area,
                            line=db.session.get(LineUser, line.id))
        token = f.token(db.session, account)
        db.session.remove()
    return line, token


def start_for(chat: Chat, case_id: int) -> list[dict]:
    """The reminder's quick reply: the postback a=visit&id=<case id>."""
    chat.emulator.events(user=chat.user, type="postback",
                         postback={"data": f"a=visit&id={case_id}"})
    return chat._answer()


def send_image(chat: Chat) -> list[dict]:
    chat.emulator.events(user=chat.user, type="message", message={"type": "image"},
                         content_base64=PNG, content_type="image/png")
    return chat._answer()


def send_location(chat: Chat, lat=16.4501, lon=102.8402) -> list[dict]:
    chat.emulator.events(user=chat.user, type="message", message={
        "type": "location", "latitude": lat, "longitude": lon, "address": "บ้านโนน ต.น้ำพอง"})
    return chat._answer()


def visits_of(session, case: Case) -> list[Visit]:
    session.expire_all()
    return list(session.scalars(sa.select(Visit).where(Visit.case_id == case.id)))


def last_text(chat: Chat) -> str:
    return chat.texts()[-1]


# -- starting ----------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["เยี่ยมบ้าน", "ลงเยี่ยม", "ไปยามบ้าน", "เยียมบ้าน",
                                   "เยี่ยมบ้านค่ะ", "ไปเบิ่งเด็กน้อย"])
def test_the_intent_as_volunteers_type_it_asks_which_child(app, session, volunteer, chat,
                                                           typed):
    make_case(app, session, volunteer, "เด็กชายสมชาย ใจดี")
    chat.say(typed)
    assert last_text(chat).startswith("ไปเยี่ยมบ้านน้องคนไหนมาคะ")
    assert chat.labels() == ["สมชาย"]
    assert session.scalar(sa.select(ConversationState.flow)) == "visit"


def test_the_menu_has_home_visit_and_it_starts_the_flow(app, session, volunteer, chat):
    make_case(app, session, volunteer, "มะลิ")
    chat.say("เมนู")
    assert "เยี่ยมบ้าน" in chat.labels()
    chat.tap("เยี่ยมบ้าน")
    assert last_text(chat).startswith("ไปเยี่ยมบ้านน้องคนไหนมาคะ")
    assert chat.labels() == ["มะลิ"]


def test_own_open_cases_visits_overdue_first_then_by_visit_date(app, session, volunteer,
                                                                chat):
    """"Overdue" means a home visit is overdue: a case still being checked whose officer's
    deadline passed is neither marked nor put first; those come after the visits, newest
    report first."""
    other = f.line_user(session)
    helped = "in_support"
    make_case(app, session, volunteer, "ตรวจนาน", due=dt.timedelta(days=-20))  # received
    make_case(app, session, volunteer, "สมชาย", due=dt.timedelta(days=10), stage=helped)
    make_case(app, session, volunteer, "มะลิ", due=dt.timedelta(days=-5), stage=helped)
    make_case(app, session, volunteer, "ต้นกล้า", due=dt.timedelta(days=-2), stage="follow_up")
    make_case(app, session, volunteer, "บุญมี", due=dt.timedelta(days=3), stage=helped)
    make_case(app, session, volunteer, "ส่งต่อ", due=dt.timedelta(days=-9), stage="referred")
    make_case(app, session, volunteer, "ปิดแล้ว", stage="closed")
    make_case(app, session, other, "ของคนอื่น", due=dt.timedelta(days=-30), stage=helped)
    chat.say("เยี่ยมบ้าน")
    assert chat.labels() == ["มะลิ (เลยกำหนด)", "ต้นกล้า (เลยกำหนด)", "บุญมี", "สมชาย",
                             "ส่งต่อ", "ตรวจนาน"]
    assert "(น้องที่เลยกำหนดแล้วเรียงไว้ก่อน)" in last_text(chat)
    assert all(len(label) <= 20 for label in chat.labels())


def test_an_officers_deadline_passed_is_not_a_visit_overdue(app, session, volunteer, chat):
    make_case(app, session, volunteer, "ตรวจนาน", due=dt.timedelta(days=-20))
    make_case(app, session, volunteer, "ส่งต่อ", due=dt.timedelta(days=-9), stage="referred")
    chat.say("เยี่ยมบ้าน")
    assert chat.labels() == ["ส่งต่อ", "ตรวจนาน"]  # newest report first, no marker
    assert "เลยกำหนด" not in last_text(chat)


def test_long_names_and_shared_first_names_fit_the_label(app, session, volunteer, chat):
    make_case(app, session, volunteer, "ศักดิ์สิทธิ์มหาสมบูรณ์ยิ่ง ใจดี",
              due=dt.timedelta(days=-1), stage="in_support")
    make_case(app, session, volunteer, "สมชาย ใจดี", due=dt.timedelta(days=1),
              stage="in_support")
    make_case(app, session, volunteer, "สมชาย มีสุข", due=dt.timedelta(days=2),
              stage="in_support")
    chat.say("เยี่ยมบ้าน")
    labels = chat.labels()
    assert all(len(label) <= 20 for label in labels)
    assert labels[0].endswith("… (เลยกำหนด)")
    assert labels[1].startswith("สมชาย ") and labels[2].startswith("สมชาย ")
    assert labels[1] != labels[2]  # the case numbers tell them apart


def test_many_cases_are_paged_with_more(app, session, volunteer, chat):
    for n in range(15):
        make_case(app, session, volunteer, f"น้อง{chr(0x0e01 + n)}ดี",
                  due=dt.timedelta(days=n + 1))
    chat.say("เยี่ยมบ้าน")
    first = chat.labels()
    assert len(first) == 13 and first[-1] == "อื่น ๆ"
    chat.tap("อื่น ๆ")
    second = chat.labels()
    assert len(second) == 3 and not set(second) & set(first[:-1])
    chat.tap(second[-1])
    assert last_text(chat).startswith(f"ไปเยี่ยมน้อง{second[-1]} แล้วเป็นอย่างไรบ้างคะ")


def test_no_open_cases_says_so_and_how_to_report(app, session, volunteer, chat):
    make_case(app, session, volunteer, "ปิดแล้ว", stage="closed")
    chat.say("เยี่ยมบ้าน")
    assert last_text(chat).startswith("ตอนนี้ยังไม่มีเคสที่ต้องไปเยี่ยมค่ะ")
    assert "แจ้งเด็ก" in last_text(chat)
    assert session.scalar(sa.select(ConversationState)) is None


@pytest.mark.parametrize("role,start", [
    ("parent", "การเยี่ยมบ้านบันทึกโดย อสม."),
    (None, "การเยี่ยมบ้านบันทึกโดย อสม."),
    ("officer", "ใน LINE การเยี่ยมบ้านบันทึกโดย อสม."),
])
def test_others_are_told_who_records_visits(app, session, emulator, worker, volunteer, role,
                                            start):
    case = make_case(app, session, volunteer, "สมชาย")
    someone = f.line_user(session, role=role)
    chat = Chat(emulator, worker, someone.line_user_id)
    chat.say("เยี่ยมบ้าน")
    assert last_text(chat).startswith(start)
    start_for(chat, case.id)  # the postback is refused alike
    assert last_text(chat).startswith(start)
    assert session.scalar(sa.select(ConversationState)) is None
    assert visits_of(session, case) == []


# -- the postback contract ---------------------------------------------------------------------

def test_the_postback_goes_straight_to_the_outcome(app, session, volunteer, chat):
    case = make_case(app, session, volunteer, "เด็กหญิงมะลิ ใจงาม")
    start_for(chat, case.id)
    assert last_text(chat) == "ไปเยี่ยมน้องมะลิ แล้วเป็นอย่างไรบ้างคะ"
    assert chat.labels() == list(OUTCOME_LABELS.values())
    assert all(len(label) <= 20 for label in chat.labels())
    chat.say("ย้อนกลับ")  # nothing before the outcome in this start
    assert chat.texts()[0] == "นี่เป็นคำถามแรกแล้วค่ะ"
    assert session.scalar(sa.select(ConversationState.flow)) == "visit_case"


def test_someone_elses_case_by_a_forged_postback_is_refused(app, session, volunteer, chat):
    other = f.line_user(session)
    theirs = make_case(app, session, other, "ของคนอื่น")
    start_for(chat, theirs.id)
    assert last_text(chat).startswith("เรื่องนี้ไม่ได้อยู่ในเคสของคุณค่ะ")
    start_for(chat, 999999999)
    assert last_text(chat).startswith("เรื่องนี้ไม่ได้อยู่ในเคสของคุณค่ะ")
    chat.emulator.events(user=chat.user, type="postback", postback={"data": "a=visit&id=abc"})
    chat._answer()
    assert last_text(chat).startswith("เรื่องนี้ไม่ได้อยู่ในเคสของคุณค่ะ")
    assert session.scalar(sa.select(ConversationState)) is None
    assert visits_of(session, theirs) == []
    assert "ของคนอื่น" not in " ".join(chat.texts())


def test_a_closed_case_is_refused_politely(app, session, volunteer, chat):
    case = make_case(app, session, volunteer, "สมชาย", stage="closed")
    start_for(chat, case.id)
    assert last_text(chat).startswith("เรื่องของน้องสมชาย ปิดแล้ว จึงไม่ต้องบันทึกการเยี่ยมค่ะ")
    assert session.scalar(sa.select(ConversationState)) is None


def test_a_case_closed_while_the_volunteer_answers_is_not_recorded(app, session, volunteer,
                                                                   chat):
    case = make_case(app, session, volunteer, "สมชาย")
    start_for(chat, case.id)
    chat.tap("พบเด็ก")
    chat.tap(SKIP)
    session.execute(sa.update(Case).where(Case.id == case.id).values(stage="closed"))
    session.commit()
    chat.tap("ยืนยัน")
    assert last_text(chat).startswith("เรื่องของน้องสมชาย ปิดแล้ว")
    assert "Traceback" not in last_text(chat)
    assert visits_of(session, case) == []


# -- outcomes and extras -----------------------------------------------------------------------

@pytest.mark.parametrize("outcome", list(OUTCOME_LABELS))
def test_each_outcome_is_recorded(app, session, volunteer, chat, outcome):
    case = make_case(app, session, volunteer, "สมชาย")
    start_for(chat, case.id)
    chat.tap(OUTCOME_LABELS[outcome])
    assert last_text(chat).startswith("มีอะไรเพิ่มเติมไหมคะ")
    assert SKIP in chat.labels()
    chat.tap(SKIP)
    summary = last_text(chat)
    assert f"ผลการเยี่ยม: {OUTCOME_LABELS[outcome]}" in summary
    assert f"วันที่เยี่ยม: วันนี้ {be(bangkok_today())}" in summary
    assert case.reference in summary and "น้องสมชาย" in summary
    assert chat.labels() == ["ยืนยัน", "แก้ไข", "ยกเลิก"]
    chat.tap("ยืนยัน")
    [visit] = visits_of(session, case)
    assert (visit.outcome, visit.visited_on, visit.visitor_kind) == (
        outcome, bangkok_today(), "volunteer")
    assert visit.visitor == chat.user and visit.note is None and visit.photo_id is None
    assert last_text(chat).startswith("บันทึกการเยี่ยมบ้านน้องสมชาย เรียบร้อยแล้วค่ะ")
    assert session.scalar(sa.select(ConversationState)) is None


def test_outcome_typed_instead_of_tapped(app, session, volunteer, chat):
    case = make_case(app, session, volunteer, "สมชาย")
    start_for(chat, case.id)
    chat.say("เด็กสบายดี")
    assert chat.texts()[0] == "กรุณาเลือกจากปุ่มด้านล่างค่ะ"
    chat.say("กลับเข้าเรียนแล้ว")  # not "back": the whole label of an outcome
    assert last_text(chat).startswith("มีอะไรเพิ่มเติมไหมคะ")
    chat.say("ไม่มี")
    chat.say("ยืนยัน")
    assert [v.outcome for v in visits_of(session, case)] == ["back_in_school"]


def test_note_photo_with_consent_and_location(app, session, volunteer, chat):
    case = make_case(app, session, volunteer, "สมชาย", photo=True)
    start_for(chat, case.id)
    chat.tap("ต้องช่วยเหลือเพิ่ม")
    kinds = [a["type"] for a in chat.quick_replies()]
    assert kinds[:3] == ["camera", "cameraRoll", "location"]
    chat.say("แม่ไปทำงานกรุงเทพ น้องอยู่กับยาย")
    assert last_text(chat).startswith("เพิ่มแล้ว: บันทึก มีอะไรอีกไหมคะ")
    assert chat.labels()[-1] == "เสร็จ"
    send_image(chat)
    send_location(chat)
    chat.say("ยายอยากให้น้องเรียน กศน.")
    assert last_text(chat).startswith("เพิ่มแล้ว: บันทึก, รูป, ตำแหน่ง")
    chat.tap("เสร็จ")
    summary = last_text(chat)
    assert "บันทึก: แม่ไปทำงานกรุงเทพ" in summary
    assert "แนบรูปแล้ว" in summary and "แนบตำแหน่งแล้ว" in summary
    chat.tap("ยืนยัน")
    [visit] = visits_of(session, case)
    assert visit.note == "แม่ไปทำงานกรุงเทพ น้องอยู่กับยาย\nยายอยากให้น้องเรียน กศน."
    assert (visit.latitude, visit.longitude) == (16.4501, 102.8402)
    photo = session.get(CasePhoto, visit.photo_id)
    assert photo.case_id == case.id and photo.data.startswith(b"\x89PNG") \
        and photo.content_type == "image/png"
    assert len(chat.emulator.requests("loading")) == 1  # shown while fetching the photo
    assert "ไม่ได้เก็บรูป" not in last_text(chat)
    note = session.scalar(sa.select(TimelineEntry).where(TimelineEntry.case_id == case.id,
                                                         TimelineEntry.kind == "note"))
    assert note.public is False and note.detail["visit_id"] == visit.id


def test_photo_without_photo_consent_is_not_kept_and_the_volunteer_is_told(
        app, session, volunteer, chat):
    case = make_case(app, session, volunteer, "สมชาย",  # consent to share, not to photos
                     purposes=("share_with_agencies", "follow_up_contact"))
    assert "photo" not in session.scalar(sa.select(Consent.purposes)
                                         .where(Consent.case_id == case.id))
    start_for(chat, case.id)
    chat.tap("พบเด็ก")
    send_image(chat)
    assert chat.texts()[0].startswith("เสมอเก็บรูปนี้ไว้ไม่ได้ค่ะ เพราะผู้ปกครองยังไม่ได้ยินยอม")
    chat.tap(SKIP)
    assert "แนบรูปแล้ว" not in last_text(chat)
    chat.tap("ยืนยัน")
    [visit] = visits_of(session, case)
    assert visit.photo_id is None
    assert session.scalar(sa.select(sa.func.count()).select_from(CasePhoto)) == 0
    assert chat.emulator.requests("content") == []  # never even fetched from LINE


def test_photo_consent_withdrawn_before_confirming_drops_the_photo(app, session, volunteer,
                                                                   chat):
    case = make_case(app, session, volunteer, "สมชาย", photo=True)
    reported_photos = session.scalar(sa.select(sa.func.count()).select_from(CasePhoto))
    start_for(chat, case.id)
    chat.tap("พบเด็ก")
    send_image(chat)
    chat.tap("เสร็จ")
    session.execute(sa.update(Consent).where(Consent.case_id == case.id)
                    .values(withdrawn_at=utcnow()))
    session.commit()
    chat.tap("ยืนยัน")
    [visit] = visits_of(session, case)
    assert visit.photo_id is None
    assert session.scalar(sa.select(sa.func.count()).select_from(CasePhoto)) == reported_photos
    assert "ไม่ได้เก็บรูปไว้ เพราะผู้ปกครองยังไม่ได้ยินยอมให้เก็บรูปของน้องค่ะ" in last_text(chat)


def test_a_5000_character_note_with_emoji(app, session, volunteer, chat):
    case = make_case(app, session, volunteer, "สมชาย")
    start_for(chat, case.id)
    chat.tap("พบเด็ก")
    long_note = ("น้องสบายดี 😀 " * 400)[:5000]
    chat.say(long_note)
    assert chat.texts()[0] == ("บันทึกยาวเกินไปค่ะ ช่วยพิมพ์ให้สั้นลง รวมกันไม่เกิน 2,000 "
                               "ตัวอักษรนะคะ")
    assert chat.texts()[-1].startswith("มีอะไรเพิ่มเติมไหมคะ")  # asked again, nothing added
    note = "น้องสบายดี 😀 ยายฝากขอบคุณ 🙏"
    chat.say(note)
    chat.tap("เสร็จ")
    assert f"บันทึก: {note}" in last_text(chat)
    chat.tap("ยืนยัน")
    [visit] = visits_of(session, case)
    assert visit.note == note  # emoji kept on both databases


def test_a_typed_reference_chooses_the_case(app, session, volunteer, chat):
    make_case(app, session, volunteer, "มะลิ")
    case = make_case(app, session, volunteer, "สมชาย")
    year, number = case.reference.split("-")[1:]
    chat.say("เยี่ยมบ้าน")
    chat.say(f"{year}-{int(number)}")
    assert last_text(chat) == "ไปเยี่ยมน้องสมชาย แล้วเป็นอย่างไรบ้างคะ"
    chat.say("ย้อนกลับ")
    chat.say(case.reference)
    assert last_text(chat) == "ไปเยี่ยมน้องสมชาย แล้วเป็นอย่างไรบ้างคะ"
    chat.tap("ไม่พบเด็ก")
    chat.tap(SKIP)
    chat.tap("ยืนยัน")
    assert [v.outcome for v in visits_of(session, case)] == ["not_found"]


def test_a_typed_name_and_references_that_are_not_open_cases(app, session, volunteer, chat):
    other = f.line_user(session)
    theirs = make_case(app, session, other, "ของคนอื่น")
    closed = make_case(app, session, volunteer, "มานี", stage="closed")
    mine = make_case(app, session, volunteer, "สมชาย")
    chat.say("เยี่ยมบ้าน")
    chat.say(theirs.reference)
    assert chat.texts()[0].startswith("เรื่องนี้ไม่ได้อยู่ในเคสของคุณค่ะ")
    chat.say(closed.reference)
    assert chat.texts()[0].startswith("เรื่องของน้องมานี ปิดแล้ว")
    chat.say("ใครก็ได้")
    assert chat.texts()[0].startswith("กดชื่อน้องด้านล่าง หรือพิมพ์เลขที่เรื่อง")
    chat.say("สมชาย")
    assert last_text(chat) == "ไปเยี่ยมน้องสมชาย แล้วเป็นอย่างไรบ้างคะ"
    assert visits_of(session, mine) == []


def test_cancel_saves_nothing(app, session, volunteer, chat):
    case = make_case(app, session, volunteer, "สมชาย")
    start_for(chat, case.id)
    chat.tap("พบเด็ก")
    chat.say("บันทึกที่ไม่ต้องการ")
    chat.tap("เสร็จ")
    chat.tap("ยกเลิก")
    assert last_text(chat).startswith("ยกเลิกแล้วค่ะ ไม่ได้บันทึกข้อมูลใด ๆ")
    chat.say("เยี่ยมบ้าน")
    chat.say("ยกเลิก")  # typed, at the first question
    assert last_text(chat).startswith("ยกเลิกแล้วค่ะ")
    assert visits_of(session, case) == []
    assert session.scalar(sa.select(ConversationState)) is None


def test_back_and_edit_change_the_answers(app, session, volunteer, chat):
    make_case(app, session, volunteer, "มะลิ", due=dt.timedelta(days=-1), stage="in_support")
    case = make_case(app, session, volunteer, "สมชาย", due=dt.timedelta(days=1),
                     stage="in_support")
    chat.say("เยี่ยมบ้าน")
    chat.tap("มะลิ (เลยกำหนด)")
    chat.say("ย้อนกลับ")  # back to "which child"
    assert last_text(chat).startswith("ไปเยี่ยมบ้านน้องคนไหนมาคะ")
    chat.tap("สมชาย")
    chat.tap("ไม่พบเด็ก")
    chat.say("ไปแล้วไม่มีใครอยู่")
    chat.tap("เสร็จ")
    chat.tap("แก้ไข")
    assert chat.labels() == ["เปลี่ยนน้อง", "ผลการเยี่ยม", "บันทึก/รูป/ตำแหน่ง"]
    chat.tap("ผลการเยี่ยม")
    chat.tap("ย้ายที่อยู่")  # straight back to the summary
    assert "ผลการเยี่ยม: ย้ายที่อยู่" in last_text(chat)
    assert "บันทึก: ไปแล้วไม่มีใครอยู่" in last_text(chat)
    chat.tap("แก้ไข")
    chat.tap("บันทึก/รูป/ตำแหน่ง")  # the extras are asked again from the start
    chat.say("ย้ายไปอยู่ชลบุรี")
    chat.tap("เสร็จ")
    assert "บันทึก: ย้ายไปอยู่ชลบุรี" in last_text(chat)
    chat.tap("ยืนยัน")
    [visit] = visits_of(session, case)
    assert (visit.outcome, visit.note) == ("moved", "ย้ายไปอยู่ชลบุรี")


def test_done_words_end_the_extras_instead_of_cancelling(app, session, volunteer, chat):
    case = make_case(app, session, volunteer, "สมชาย")
    start_for(chat, case.id)
    chat.tap("พบเด็ก")
    chat.say("น้องช่วยยายขายของ")
    chat.say("พอแล้ว")  # "enough" here means done, not cancel
    assert last_text(chat).endswith("บันทึกการเยี่ยมนี้เลยไหมคะ")


# -- the officer, the timeline, the API --------------------------------------------------------

def test_the_officer_in_charge_is_told(app, session, volunteer, chat, officer_line):
    line, _token = officer_line
    make_officer(app, session, area="4018")  # another district's officer: not told
    case = make_case(app, session, volunteer, "สมชาย")
    start_for(chat, case.id)
    chat.tap("ต้องช่วยเหลือเพิ่ม")
    chat.tap(SKIP)
    chat.tap("ยืนยัน")
    rows = list(session.scalars(sa.select(OutboxMessage)
                                .where(OutboxMessage.kind == "case.visit_recorded")))
    assert [r.recipient for r in rows] == [line.line_user_id]
    payload = json.loads(rows[0].payload)
    assert (payload["reference"], payload["outcome"], payload["visited_on"]) == (
        case.reference, "needs_more_help", bangkok_today().isoformat())
    audit = session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "case.visit"))
    assert audit is not None


def test_the_next_visit_date_is_told_when_the_case_is_being_helped(app, session, volunteer,
                                                                   chat):
    case = make_case(app, session, volunteer, "สมชาย", stage="in_support",
                     due=dt.timedelta(days=-3))
    start_for(chat, case.id)
    chat.tap("พบเด็ก")
    chat.tap(SKIP)
    chat.tap("ยืนยัน")
    session.expire_all()
    due = session.get(Case, case.id).due_at
    assert due > utcnow() + dt.timedelta(days=29)  # reset by the visit
    due_day = (due + dt.timedelta(hours=7)).date()
    assert f"ครั้งต่อไปควรไปเยี่ยมภายใน {be(due_day)} ค่ะ" in last_text(chat)


def test_no_next_visit_date_while_the_deadline_is_an_officers(app, session, volunteer, chat):
    case = make_case(app, session, volunteer, "สมชาย")  # received: due is the check deadline
    assert session.get(Case, case.id).due_at > utcnow()
    start_for(chat, case.id)
    chat.tap("พบเด็ก")
    chat.tap(SKIP)
    chat.tap("ยืนยัน")
    assert last_text(chat).startswith("บันทึกการเยี่ยมบ้านน้องสมชาย เรียบร้อยแล้วค่ะ")
    assert "ครั้งต่อไปควรไปเยี่ยม" not in last_text(chat)


def test_a_visit_through_the_webhook_is_on_the_timeline_and_in_the_api(
        app, session, base_url, volunteer, chat, officer_line):
    _line, token = officer_line
    case = make_case(app, session, volunteer, "เด็กชายต้นกล้า ใจดี")
    chat.say("ลงเยี่ยม")
    chat.tap("ต้นกล้า")
    chat.tap("พบเด็ก")
    chat.say("น้องอยากกลับไปเรียน")
    send_location(chat)
    chat.tap("เสร็จ")
    chat.tap("ยืนยัน")
    assert last_text(chat).startswith("บันทึกการเยี่ยมบ้านน้องต้นกล้า เรียบร้อยแล้วค่ะ")
    assert case.reference in last_text(chat)

    [visit] = visits_of(session, case)
    entry = session.scalar(sa.select(TimelineEntry).where(TimelineEntry.case_id == case.id,
                                                          TimelineEntry.kind == "visit"))
    assert entry.public and entry.actor == chat.user
    assert entry.detail == {"visit_id": visit.id, "outcome": "found",
                            "visited_on": bangkok_today().isoformat()}

    response = requests.get(f"{base_url}/api/v1/cases/{case.reference}",
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200
    body = response.json()
    visits_in_timeline = [e for e in body["timeline"] if e["kind"] == "visit"]
    assert len(visits_in_timeline) == 1
    assert visits_in_timeline[0]["detail"]["outcome"] == "found"
    assert visits_in_timeline[0]["actor"] == chat.user
    [api_visit] = body["visits"]
    assert (api_visit["outcome"], api_visit["visitor_kind"], api_visit["note"]) == (
        "found", "volunteer", "น้องอยากกลับไปเรียน")
    assert api_visit["visited_on"] == bangkok_today().isoformat()
    assert api_visit["latitude"] == pytest.approx(16.4501)


def test_my_cases_progress_offers_record_a_visit(app, session, volunteer, chat):
    closed = make_case(app, session, volunteer, "มานี", stage="closed")
    chat.say(closed.reference)  # a reference typed alone: the progress
    assert "รหัสให้ผู้ปกครอง" in chat.labels() and "บันทึกการเยี่ยม" not in chat.labels()
    case = make_case(app, session, volunteer, "สมชาย")
    chat.say(case.reference)
    action = next(a for a in chat.quick_replies() if a["label"] == "บันทึกการเยี่ยม")
    assert action["data"] == f"a=visit&id={case.id}"
    chat.tap("บันทึกการเยี่ยม")
    assert last_text(chat) == "ไปเยี่ยมน้องสมชาย แล้วเป็นอย่างไรบ้างคะ"


# -- erased cases ------------------------------------------------------------------------------

def erase(app, case: Case) -> None:
    """Erase the case's personal data as an approved guardian's request does."""
    with app.app_context():
        supervisor = f.officer(db.session, role="supervisor", agency="LEARN", area="4007")
        subject_rights.erase_case(db.session, f.actor(supervisor),
                                  db.session.get(Case, case.id))
        db.session.commit()
        db.session.remove()


ERASED = "ข้อมูลของเรื่องนี้ (เลขที่เรื่อง {ref}) ถูกลบแล้วตามคำขอของผู้ปกครอง"


def test_an_erased_open_case_is_not_offered_and_is_refused_by_name_of_its_reference(
        app, session, volunteer, chat):
    erased = make_case(app, session, volunteer, "เด็กหญิงลบแล้ว ใจดี", stage="in_support",
                       due=dt.timedelta(days=-10))
    make_case(app, session, volunteer, "สมชาย")
    erase(app, erased)
    session.expire_all()
    assert session.get(Case, erased.id).stage == "in_support"  # erased, still open
    chat.say("เยี่ยมบ้าน")
    assert chat.labels() == ["สมชาย"]
    chat.say(erased.reference)  # typed: the reason, not a generic "try again later"
    assert chat.texts()[0].startswith(ERASED.format(ref=erased.reference))
    chat.say("ยกเลิก")
    start_for(chat, erased.id)  # the old reminder's button
    assert last_text(chat).startswith(ERASED.format(ref=erased.reference))
    assert "จึงบันทึกการเยี่ยมไม่ได้แล้วค่ะ" in last_text(chat)
    assert session.scalar(sa.select(ConversationState)) is None
    assert visits_of(session, erased) == []


def test_a_case_erased_while_the_volunteer_answers_is_not_recorded(app, session, volunteer,
                                                                   chat):
    case = make_case(app, session, volunteer, "สมชาย")
    start_for(chat, case.id)
    chat.tap("พบเด็ก")
    chat.tap(SKIP)
    erase(app, case)
    chat.tap("ยืนยัน")
    assert last_text(chat).startswith(ERASED.format(ref=case.reference))
    assert visits_of(session, case) == []


def test_only_erased_cases_leave_the_volunteer_nothing_to_visit(app, session, volunteer, chat):
    erase(app, make_case(app, session, volunteer, "สมชาย"))
    chat.say("เยี่ยมบ้าน")
    assert last_text(chat).startswith("ตอนนี้ยังไม่มีเคสที่ต้องไปเยี่ยมค่ะ")


# -- postbacks with ids no row can have --------------------------------------------------------

@pytest.mark.parametrize("huge", ["99999999999999999999", str(2**63), str(-(2**63) - 1)])
def test_an_oversized_id_in_a_postback_gets_the_stale_tap_answer(app, session, volunteer, chat,
                                                                 huge):
    """Beyond the databases' integer range (an overflow on SQLite, "out of range" on
    PostgreSQL if it reached a query): answered like a stale tap, at once, and the next
    event is not kept waiting behind retries."""
    case = make_case(app, session, volunteer, "สมชาย")
    chat.emulator.events(user=chat.user, type="postback", postback={"data": f"a=visit&id={huge}"})
    chat._answer()
    assert last_text(chat).startswith("เรื่องนี้ไม่ได้อยู่ในเคสของคุณค่ะ")
    chat.say("เยี่ยมบ้าน")  # in the "which child" step: a forged choice
    chat.emulator.events(user=chat.user, type="postback", postback={"data": f"step=case&v={huge}"})
    chat._answer()
    assert chat.texts()[0].startswith("เรื่องนี้ไม่ได้อยู่ในเคสของคุณค่ะ")
    chat.emulator.events(user=chat.user, type="postback",
                         postback={"data": f"step=case&v=__more__&page={huge}"})
    chat._answer()
    assert chat.texts()  # answered (whatever page it shows), not crashed
    chat.tap("สมชาย")
    assert last_text(chat) == "ไปเยี่ยมน้องสมชาย แล้วเป็นอย่างไรบ้างคะ"
    session.expire_all()
    failed = session.scalars(sa.select(InboxEvent).where(
        InboxEvent.status.in_([InboxEvent.PENDING, InboxEvent.FAILED]))).all()
    assert failed == [], [(e.status, e.attempts) for e in failed]
    assert visits_of(session, case) == []
