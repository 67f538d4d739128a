"""Reporting a child through the real webhook: both groups, validation, summary, duplicates."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
import sqlalchemy as sa

from bot.thai_text import citizen_id_check_digit
from handlers.flows.report import seal
from models import (
    AnonymousReport,
    Case,
    CasePhoto,
    Consent,
    ConversationState,
    LineUser,
    TimelineEntry,
    utcnow,
)
from services import consent as consents
from services.access import Actor
from tests.support import Chat

VOLUNTEER = "U" + "d4" * 16
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 64).decode()


def valid_id(first_twelve: str = "110170020345") -> str:
    return first_twelve + str(citizen_id_check_digit(first_twelve))


@pytest.fixture
def volunteer(app, session, emulator, worker):
    session.add(LineUser(line_user_id=VOLUNTEER, role="volunteer", full_name="สมศรี ใจดี",
                         phone="0812345678", village="บ้านโนนสะอาด", village_no=5,
                         subdistrict_code="400701", registered_at=utcnow(), followed=True))
    session.commit()
    return Chat(emulator, worker, VOLUNTEER)


def bangkok_today() -> dt.date:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=7)).date()


def be_date(d: dt.date) -> str:
    return f"{d.day}/{d.month}/{d.year + 543}"


def report_until_summary(chat: Chat, *, group="ไม่ได้เรียน 6-24 ปี", name="สมชาย ดีมาก",
                         birth=None, id_answer=None, consent="ยินยอม",
                         photo=False) -> list[dict]:
    birth = birth or be_date(bangkok_today().replace(year=bangkok_today().year - 15) -
                             dt.timedelta(days=30))
    chat.say("แจ้งเด็ก")
    assert chat.texts()[-1] == "น้องอยู่กลุ่มไหนคะ"
    chat.tap(group)
    chat.say(name)
    chat.tap("ชาย")
    chat.say(birth)
    if id_answer is None:
        chat.tap("ไม่มี/ไม่ทราบ")
    else:
        chat.say(id_answer)
    chat.say("บัวผัน ใจดี 081-234-5678")
    chat.tap("ปู่ย่าตายาย")
    chat.tap("หมู่บ้านเดียวกับฉัน")
    chat.tap("ออกกลางคัน")
    chat.tap("ครอบครัวลำบาก")
    chat.tap("เสร็จ")
    if photo:
        send_photo(chat)
    else:
        chat.tap("ข้าม")
    return chat.tap(consent)


def send_photo(chat: Chat) -> list[dict]:
    chat.emulator.events(user=chat.user, type="message", message={"type": "image"},
                         content_base64=PNG, content_type="image/png")
    return chat._answer()


def test_out_of_school_child_reported_in_twelve_answers(volunteer, session, emulator):
    summary = report_until_summary(volunteer)
    # answers: group, name, sex, birth, id, guardian, relation, address, situations (two
    # taps and "done"), extras, consent; then the confirm
    asked = [e for e in emulator.requests() if e["endpoint"] == "reply"]
    assert len(asked) == 14  # the intent, 13 answers with two situations chosen
    [card] = summary
    assert card["type"] == "flex" and card["altText"].startswith("เรื่องของน้องสมชาย")
    assert "ออกกลางคัน, ครอบครัวลำบาก" in card["altText"]
    assert "บ้านโนนสะอาด หมู่ 5 ต.น้ำพอง" in card["altText"]
    answer = volunteer.tap("ส่งเรื่อง") if False else _press(volunteer, card, "ส่งเรื่อง")
    assert answer[0]["text"].startswith("ส่งเรื่องเรียบร้อยแล้วค่ะ เลขที่เรื่อง KK-25")
    assert "ตำบลน้ำพอง" in answer[0]["text"]
    case = session.scalar(sa.select(Case))
    assert (case.target_group, case.owner_agency_code, case.owner_area_code) == (
        "out_of_school", "LEARN", "4007")
    assert case.situations == ["dropped_out", "poverty"]
    assert case.guardian_phone == "0812345678"
    consent = session.scalar(sa.select(Consent))  # one tap covers the statement's purposes
    assert consent.purposes == ["share_with_agencies", "photo", "follow_up_contact"]
    assert consent.statement_version == "2569-2"
    assert session.scalar(sa.select(ConversationState)) is None


def _press(chat: Chat, card: dict, label: str) -> list[dict]:
    """Press a button of a Flex card (a postback, as LINE sends it)."""
    buttons = card["contents"]["footer"]["contents"]
    action = next(b["action"] for b in buttons if b["action"]["label"] == label)
    chat.emulator.events(user=chat.user, type="postback", postback={"data": action["data"]})
    return chat._answer()


def test_young_child_with_id_photo_and_age_typed(volunteer, session):
    volunteer.say("แจ้ง")
    volunteer.tap("เด็กเล็ก 0-6 ปี")
    volunteer.say("น้องมะลิ")
    volunteer.tap("หญิง")
    assert volunteer.say("สามขวบ")[0]["text"].startswith("เลขประจำตัวประชาชน 13 หลักของน้อง")
    bad = valid_id()[:-1] + str((int(valid_id()[-1]) + 1) % 10)
    assert volunteer.say(bad)[0]["text"].startswith("เลขประจำตัวประชาชน 13 หลักนี้ไม่ถูกต้อง")
    volunteer.say(valid_id())
    assert volunteer.say("บัวผัน ใจดี 12-34")[0]["text"].startswith("เบอร์โทรนี้ยังไม่ถูกต้อง")
    volunteer.say("แม่บัว")
    volunteer.tap("แม่")
    volunteer.say("บ้านหนองแวง ม.๓")
    volunteer.tap("ไม่มีสูติบัตร")
    volunteer.say("เสร็จ")
    volunteer.emulator.events(user=VOLUNTEER, type="message",
                              message={"type": "image"}, content_base64=PNG,
                              content_type="image/png")
    volunteer._answer()
    [card] = volunteer.tap("ยินยอม")
    assert "แนบรูปแล้ว" in card["altText"] and "•••" in card["altText"]
    _press(volunteer, card, "ส่งเรื่อง")
    case = session.scalar(sa.select(Case))
    assert (case.owner_agency_code, case.owner_area_code) == ("LOCAL", "400701")
    assert (case.village, case.village_no, case.birth_precision) == ("บ้านหนองแวง", 3, "age")
    assert case.id_kind == "citizen_id" and case.id_hash
    assert len(volunteer.emulator.requests("loading")) == 1  # shown while fetching the photo
    photo = session.scalar(sa.select(CasePhoto))
    assert photo.content_type == "image/png" and photo.data.startswith(b"\x89PNG")
    assert session.scalar(sa.select(Consent)).purposes == ["share_with_agencies", "photo",
                                                           "follow_up_contact"]


@pytest.mark.parametrize("typed,hint", [
    ("31/2/2562", "ไม่มีวันที่นี้ในปฏิทินค่ะ"),
    ("13/8/2600", "วันที่นี้ยังมาไม่ถึงค่ะ"),
    ("13/8/19", "ปีนี้เป็น พ.ศ. หรือ ค.ศ. คะ"),
    ("อะไรก็ได้ 😀", "ยังอ่านวันเกิดนี้ไม่ออกค่ะ"),
    ("3 ขวบ", "อายุนี้ไม่ตรงกับกลุ่ม ไม่ได้เรียน 6-24 ปี"),
])
def test_birth_dates_that_cannot_be_used_are_refused_with_the_reason(volunteer, typed, hint):
    volunteer.say("แจ้งเด็ก")
    volunteer.tap("ไม่ได้เรียน 6-24 ปี")
    volunteer.say("สมชาย")
    volunteer.tap("ชาย")
    assert volunteer.say(typed)[0]["text"].startswith(hint)


def test_the_date_picker_answers_the_birth_question(volunteer):
    volunteer.say("แจ้งเด็ก")
    volunteer.tap("เด็กเล็ก 0-6 ปี")
    volunteer.say("มะลิ")
    volunteer.tap("หญิง")
    picker = next(a for a in volunteer.quick_replies() if a["type"] == "datetimepicker")
    born = bangkok_today().replace(year=bangkok_today().year - 2)
    volunteer.emulator.events(user=VOLUNTEER, type="postback", postback={
        "data": picker["data"], "params": {"date": born.isoformat()}})
    assert volunteer._answer()[0]["text"].startswith("เลขประจำตัวประชาชน 13 หลักของน้อง")


def test_edit_a_field_from_the_summary_and_return(volunteer, session):
    [card] = report_until_summary(volunteer)
    _press(volunteer, card, "แก้ไขข้อมูล")
    volunteer.tap("ชื่อ")
    [card] = volunteer.say("สมชาย ใจเย็น")
    assert card["altText"].startswith("เรื่องของน้องสมชาย") and "สมชาย ใจเย็น" in card["altText"]


def test_a_double_tapped_confirm_creates_one_case(volunteer, session):
    [card] = report_until_summary(volunteer)
    _press(volunteer, card, "ส่งเรื่อง")
    again = _press(volunteer, card, "ส่งเรื่อง")
    assert again[0]["text"].startswith("เรื่องนี้ส่งไปแล้วค่ะ เลขที่เรื่อง KK-")
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


def test_a_duplicate_child_updates_the_existing_case(volunteer, session):
    [card] = report_until_summary(volunteer, id_answer=valid_id())
    _press(volunteer, card, "ส่งเรื่อง")
    [card] = report_until_summary(volunteer, name="ด.ช. สมชาย ดีมาก", id_answer=valid_id())
    answer = _press(volunteer, card, "ส่งเรื่อง")
    assert answer[0]["text"].startswith("น้องคนนี้มีเรื่องอยู่แล้วค่ะ")
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


def test_without_consent_only_a_count_is_kept(volunteer, session):
    [card] = report_until_summary(volunteer, consent="ไม่ยินยอม")
    answer = _press(volunteer, card, "ส่งเรื่อง")
    assert answer[0]["text"].startswith("เมื่อผู้ปกครองไม่ยินยอม")
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(AnonymousReport)) == 1


def test_my_cases_lists_the_report_and_gives_a_link_code(volunteer, session):
    assert volunteer.say("เคสของฉัน")[0]["text"].startswith("ยังไม่มีเด็กที่คุณแจ้ง")
    [card] = report_until_summary(volunteer)
    _press(volunteer, card, "ส่งเรื่อง")
    [carousel] = volunteer.say("เคสของฉัน")
    assert carousel["type"] == "flex" and "สมชาย: รับเรื่องแล้ว" in carousel["altText"]
    bubble = carousel["contents"]["contents"][0]
    action = bubble["footer"]["contents"][0]["action"]
    volunteer.emulator.events(user=VOLUNTEER, type="postback", postback={"data": action["data"]})
    progress = volunteer._answer()
    assert "สถานะ: รับเรื่องแล้ว" in progress[0]["text"]
    code_answer = volunteer.tap("รหัสให้ผู้ปกครอง")
    assert code_answer[0]["text"].startswith("รหัสเชื่อมต่อสำหรับผู้ปกครองของน้องสมชาย: ")


def test_only_volunteers_report(emulator, worker):
    stranger = Chat(emulator, worker, "U" + "e5" * 16)
    assert stranger.say("แจ้งเด็ก")[0]["text"].startswith("การแจ้งเด็กใช้ได้เฉพาะ อสม.")


def test_two_volunteers_reporting_at_once_get_distinct_references(volunteer, session, emulator,
                                                                  worker):
    other_id = "U" + "f6" * 16
    session.add(LineUser(line_user_id=other_id, role="volunteer", full_name="มาลี",
                         village="บ้านขาม", village_no=2, subdistrict_code="400707",
                         registered_at=utcnow(), followed=True))
    session.commit()
    other = Chat(emulator, worker, other_id)
    [first] = report_until_summary(volunteer)
    [second] = report_until_summary(other, name="วิชัย")
    _press(volunteer, first, "ส่งเรื่อง")
    _press(other, second, "ส่งเรื่อง")
    references = session.scalars(sa.select(Case.reference)).all()
    assert len(set(references)) == 2


def test_cancel_from_the_summary_saves_nothing(volunteer, session):
    [card] = report_until_summary(volunteer)
    assert _press(volunteer, card, "ยกเลิก")[0]["text"].startswith("ยกเลิกแล้วค่ะ")
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0
    assert session.scalar(sa.select(ConversationState)) is None


def test_a_note_typed_at_the_extras_step_reaches_the_case(volunteer, session):
    volunteer.say("แจ้งเด็ก")
    volunteer.tap("ไม่ได้เรียน 6-24 ปี")
    volunteer.say("สมชาย")
    volunteer.tap("ชาย")
    volunteer.say("อายุ 15")
    volunteer.say("G123456789012")
    volunteer.say("บัวผัน")
    volunteer.tap("ญาติ")
    volunteer.tap("หมู่บ้านเดียวกับฉัน")
    volunteer.tap("ออกกลางคัน")
    volunteer.say("พอแล้ว")  # at this step "enough" means done, not cancel
    volunteer.say("ต้องช่วยงานที่บ้าน")
    [card] = volunteer.tap("ยินยอม")
    assert "ต้องช่วยงานที่บ้าน" in card["altText"]
    _press(volunteer, card, "ส่งเรื่อง")
    case = session.scalar(sa.select(Case))
    assert (case.note, case.id_kind, case.id_number) == ("ต้องช่วยงานที่บ้าน", "g_code",
                                                          "G123456789012")


def test_a_redelivered_confirm_creates_one_case(volunteer, session, emulator, worker):
    [card] = report_until_summary(volunteer)
    buttons = card["contents"]["footer"]["contents"]
    action = next(b["action"] for b in buttons if b["action"]["label"] == "ส่งเรื่อง")
    sent = emulator.events(user=VOLUNTEER, type="postback", postback={"data": action["data"]})
    worker.burst()
    emulator.events(redeliver=[sent["events"][0]["webhookEventId"]])
    worker.burst()
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


def test_a_volunteer_sees_only_their_own_cases(volunteer, session, emulator, worker):
    [card] = report_until_summary(volunteer)
    _press(volunteer, card, "ส่งเรื่อง")
    case_id = session.scalar(sa.select(Case.id))
    other_id = "U" + "a7" * 16
    session.add(LineUser(line_user_id=other_id, role="volunteer", full_name="มาลี",
                         subdistrict_code="400707", registered_at=utcnow(), followed=True))
    session.commit()
    other = Chat(emulator, worker, other_id)
    for data in (f"a=case&id={case_id}", f"a=link&v={case_id}"):
        emulator.events(user=other_id, type="postback", postback={"data": data})
        assert other._answer()[0]["text"] == "เรื่องนี้ไม่ได้อยู่ในเคสของคุณค่ะ"


def test_a_reference_typed_alone_shows_that_case(volunteer, session):
    [card] = report_until_summary(volunteer)
    _press(volunteer, card, "ส่งเรื่อง")
    reference = session.scalar(sa.select(Case.reference))
    year, number = reference.split("-")[1:]
    answer = volunteer.say(f"kk-{year}-{number}")
    assert answer[0]["text"].startswith(f"น้องสมชาย เลขที่เรื่อง {reference}")
    assert volunteer.say("KK-2500-99999")[0]["text"] == "เรื่องนี้ไม่ได้อยู่ในเคสของคุณค่ะ"


# VOICE.md's dates (children born 2017-2019: out of school now) and ages (young children)
VOICE_BIRTH_FORMS = {
    "ไม่ได้เรียน 6-24 ปี": ["13/8/2562", "13/08/62", "13 ส.ค. 62", "13 สค 62", "13ส.ค.2562",
                           "๑๓ สิงหาคม ๒๕๖๒", "๑๓/๘/๖๒", "13 สิงหา 62", "13.8.62",
                           "2019-08-13", "5 กรกฏาคม 2560", "เดือนสิงหา ปี 62", "อายุ 15",
                           "๑๕ ปี"],
    "เด็กเล็ก 0-6 ปี": ["เกิดปี 65", "3ขวบ", "๓ ขวบ", "สามขวบ", "ขวบครึ่ง", "แปดเดือน",
                        "ย่าง 5 ขวบ"],
}


@pytest.mark.parametrize("group", list(VOICE_BIRTH_FORMS))
def test_every_birth_form_people_type_is_taken_in_the_chat(volunteer, group):
    volunteer.say("แจ้งเด็ก")
    volunteer.tap(group)
    volunteer.say("มะลิ")
    volunteer.tap("หญิง")
    for typed in VOICE_BIRTH_FORMS[group]:
        answer = volunteer.say(typed)
        assert answer[0]["text"].startswith("เลขประจำตัวประชาชน 13 หลักของน้อง"), typed
        assert volunteer.say("ย้อนกลับ")[0]["text"].startswith("น้องเกิดวันไหนคะ")


def test_each_user_is_answered_in_their_own_language(app, session, emulator, worker):
    english, thai = "U" + "e1" * 16, "U" + "t2" * 16
    session.add_all([LineUser(line_user_id=english, language="en", followed=True),
                     LineUser(line_user_id=thai, language="th", followed=True)])
    session.commit()
    for _ in range(2):  # interleaved in one worker round
        emulator.text(english, "menu")
        emulator.text(thai, "เมนู")
    worker.burst()
    english_texts = [m["text"] for i in emulator.sent(english) for m in i["messages"]]
    thai_texts = [m["text"] for i in emulator.sent(thai) for m in i["messages"]]
    assert english_texts == ["Who are you?", "Who are you?"]
    assert thai_texts == ["คุณเป็นใครคะ", "คุณเป็นใครคะ"]


# -- the guardian's consent, purpose by purpose ----------------------------------------------

def test_consent_to_some_purposes_only_is_asked_one_by_one(volunteer, session, emulator):
    asked = report_until_summary(volunteer, photo=True, consent="ยินยอมบางข้อ")
    assert asked[0]["text"].startswith("ข้อ 1 จาก 3: ส่งข้อมูลของน้องให้หน่วยงาน")
    assert volunteer.labels() == ["ยินยอม", "ไม่ยินยอม"]
    assert volunteer.tap("ยินยอม")[0]["text"].startswith("ข้อ 2 จาก 3: เก็บรูปของน้อง")
    assert volunteer.say("ไม่ยินยอม")[0]["text"].startswith("ข้อ 3 จาก 3: ให้เจ้าหน้าที่โทร")
    [card] = volunteer.tap("ยินยอม")
    assert ("ยินยอม: ยินยอมบางข้อ: ส่งข้อมูลให้หน่วยงานที่ช่วยเหลือเด็ก, "
            "ติดต่อครอบครัวเพื่อติดตามผล") in card["altText"]
    assert "แนบรูปแล้ว แต่จะไม่เก็บรูป" in card["altText"]
    _press(volunteer, card, "ส่งเรื่อง")
    consent = session.scalar(sa.select(Consent))
    assert consent.purposes == ["share_with_agencies", "follow_up_contact"]
    assert session.scalar(sa.select(sa.func.count()).select_from(CasePhoto)) == 0
    assert emulator.requests("content") == []  # the photo was not even fetched from LINE


def test_no_to_sharing_is_no_to_the_report_and_asks_nothing_more(volunteer, session):
    report_until_summary(volunteer, consent="ยินยอมบางข้อ")
    [card] = volunteer.tap("ไม่ยินยอม")
    assert card["type"] == "flex" and "ยินยอม: ไม่ยินยอม" in card["altText"]
    answer = _press(volunteer, card, "ส่งเรื่อง")
    assert answer[0]["text"].startswith("เมื่อผู้ปกครองไม่ยินยอม")
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(AnonymousReport)) == 1


def test_the_details_then_the_question_again_and_consent_edited_from_the_summary(volunteer,
                                                                                 session):
    details = report_until_summary(volunteer, consent="อ่านรายละเอียด")
    assert details[0]["text"].startswith("รายละเอียด: ชื่อ อายุ ที่อยู่")
    assert "ถ้าไม่ยินยอมให้เก็บรูป" in details[0]["text"]
    assert details[1]["text"].startswith("(อสม. อ่านให้ผู้ปกครองฟังก่อนนะคะ)")
    assert volunteer.labels() == ["ยินยอม", "ยินยอมบางข้อ", "ไม่ยินยอม", "อ่านรายละเอียด"]
    [card] = volunteer.tap("ยินยอม")
    _press(volunteer, card, "แก้ไขข้อมูล")
    volunteer.tap("ยินยอม")  # the field
    volunteer.tap("ยินยอมบางข้อ")
    volunteer.tap("ยินยอม")
    volunteer.tap("ยินยอม")
    [card] = volunteer.tap("ไม่ยินยอม")
    assert "ยินยอมบางข้อ: ส่งข้อมูลให้หน่วยงานที่ช่วยเหลือเด็ก, เก็บรูปถ่ายของน้อง" in \
        card["altText"]
    _press(volunteer, card, "ส่งเรื่อง")
    assert session.scalar(sa.select(Consent)).purposes == ["share_with_agencies", "photo"]


def test_a_draft_keeps_the_personal_answers_encrypted(volunteer, session):
    [card] = report_until_summary(volunteer, id_answer=valid_id())
    raw = session.scalar(sa.select(ConversationState.draft))
    for personal in ("สมชาย", "บัวผัน", "0812345678", valid_id()[-4:]):
        assert personal not in raw, personal
    draft = json.loads(raw)
    assert draft["group"] == "out_of_school" and draft["situations"] == [
        "dropped_out", "poverty"]  # the rest stays plain, read on every event
    assert all(draft[key].startswith("enc1:") for key in ("child_name", "guardian", "id"))
    assert "สมชาย ดีมาก" in card["altText"] and "บัวผัน ใจดี 0812345678" in card["altText"]
    _press(volunteer, card, "ส่งเรื่อง")
    case = session.scalar(sa.select(Case))
    assert (case.child_name, case.guardian_name, case.guardian_phone, case.id_number) == (
        "สมชาย ดีมาก", "บัวผัน ใจดี", "0812345678", valid_id())


def test_a_draft_from_before_sealing_and_the_old_statement_still_goes(volunteer, session):
    """A draft left in the state by the previous version: plain answers, and a yes given to
    the statement version 2569-1 (no version in the draft)."""
    [card] = report_until_summary(volunteer)
    state = session.scalar(sa.select(ConversationState))
    draft = json.loads(state.draft)
    draft.pop("statement_version")
    draft.update(child_name="มานะ รักเรียน", guardian={"name": "ยายมา", "phone": None})
    state.draft = json.dumps(draft, ensure_ascii=False)
    session.commit()
    _press(volunteer, card, "ส่งเรื่อง")
    case = session.scalar(sa.select(Case))
    assert (case.child_name, case.guardian_name) == ("มานะ รักเรียน", "ยายมา")
    consent = session.scalar(sa.select(Consent))
    assert (consent.statement_version, consent.purposes) == ("2569-1", ["share_with_agencies"])
    assert seal(None) is None


def test_a_new_report_of_a_child_whose_guardian_withdrew_restores_nothing(volunteer, session,
                                                                          emulator, worker):
    [card] = report_until_summary(volunteer, id_answer=valid_id())
    _press(volunteer, card, "ส่งเรื่อง")
    case = session.scalar(sa.select(Case))
    consents.withdraw(session, Actor(kind="parent", name="U" + "0" * 32, via="line"), case)
    session.commit()
    [card] = report_until_summary(volunteer, name="ด.ช. สมชาย ดีมาก", id_answer=valid_id(),
                                  photo=True)
    answer = _press(volunteer, card, "ส่งเรื่อง")
    assert answer[0]["text"].startswith("น้องคนนี้มีเรื่องอยู่แล้วค่ะ")
    session.expire_all()
    assert consents.is_withdrawn(session, case)
    assert session.scalar(sa.select(sa.func.count()).select_from(CasePhoto)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
    entry = session.scalar(sa.select(TimelineEntry).where(
        TimelineEntry.kind == "duplicate_report"))
    assert entry.detail["consent_withdrawn"] is True
