"""Officers on LINE through the real webhook: "my work" (counts and the newest cases in scope),
accepting a referral with a tap, stale taps, the console account link, and who may ask."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from bot.extensions import db
from bot.intents import match_intent
from models import AuditEntry, Case, Invitation, LineUser, Officer, Referral, TimelineEntry, utcnow
from services import accounts, invitations, workflow
from tests.handlers.test_notifications import add_case, add_officer, add_user, work
from tests.support import Chat

WANG_CHAI = "400702"  # ตำบลวังชัย, อำเภอน้ำพอง (4007)
CHONNABOT = "401801"  # ตำบลชนบท, อำเภอชนบท (4018)
OFFICER = "U" + "f5" * 16


@pytest.mark.parametrize("typed", [
    "งานของฉัน", "งานของฉันค่ะ", "งาน", "ขอดูงานหน่อย", "คิวงาน", "เคสที่ต้องทำ", "งานค้าง",
    "งานที่ต้องทำมีอะไรบ้าง", "งานของผม", "งานของข่อย",
])
def test_officers_ask_for_their_work_in_many_ways(typed):
    assert match_intent(typed) == "my_work"


@pytest.mark.parametrize("typed", ["งานบุญ", "หางาน", "วันนี้มีงานไหม", "เคสของฉัน"])
def test_work_inside_other_sentences_is_not_a_command(typed):
    assert match_intent(typed) != "my_work"


def officer_chat(app, emulator, worker, line_user_id: str = OFFICER) -> Chat:
    chat = Chat(emulator, worker, line_user_id)
    chat._answer()  # notifications already waiting (a referral) are not the answer
    return chat


def press(chat: Chat, bubble: dict, label: str) -> list[dict]:
    """Press a postback button of a Flex bubble, as LINE sends it."""
    action = next(b["action"] for b in bubble["footer"]["contents"]
                  if b["action"]["label"] == label)
    chat.emulator.events(user=chat.user, type="postback", postback={"data": action["data"]})
    return chat._answer()


@pytest.fixture
def area(app):
    """A LEARN officer of อำเภอน้ำพอง linked to LINE, and cases in and out of their scope."""
    secret = app.config["SECRET_KEY"]
    with work(app) as s:
        volunteer = add_user(s, "volunteer")
        line = LineUser(line_user_id=OFFICER, role="officer", followed=True,
                        full_name="วิชัย ศรีสุข", agency_code="LEARN", area_code="4007")
        s.add(line)
        s.flush()
        learn = add_officer(s, "LEARN", "4007", line)
        local = add_officer(s, "LOCAL", "400701")
        new = add_case(s, secret, volunteer, "อนันต์ ใหม่มาก")  # LEARN 4007, received
        late = add_case(s, secret, volunteer, "บุญมี ช้าไป", subdistrict=WANG_CHAI)
        workflow.transition(s, learn, late, "verifying")
        late.due_at = utcnow() - dt.timedelta(days=2)  # overdue
        referred = add_case(s, secret, volunteer, "มะลิ ส่งมา", group="early_childhood")
        referral = workflow.refer(s, local, referred, "LEARN", "เด็กอายุเกินวัยศูนย์เด็กเล็ก")
        other_district = add_case(s, secret, volunteer, "ชนบท ไกลบ้าน", subdistrict=CHONNABOT)
        other_agency = add_case(s, secret, volunteer, "ท้องถิ่น ดูแลเอง",
                                group="early_childhood")
        closed = add_case(s, secret, volunteer, "ปิดแล้ว จบดี", subdistrict=WANG_CHAI)
        closed.stage = "closed"
        ids = {"new": new.reference, "late": late.reference, "referred": referred.reference,
               "referral": referral.id, "other_district": other_district.reference,
               "other_agency": other_agency.reference, "closed": closed.reference,
               "username": learn.name}
    return {**ids, "learn": learn, "local": local}


def test_my_work_counts_and_shows_only_cases_in_scope(app, area, emulator, worker):
    chat = officer_chat(app, emulator, worker)
    summary, card = chat.say("งานของฉัน")
    assert summary["text"] == ("งานของคุณค่ะ\nเรื่องใหม่: 1\nเกินกำหนด: 1\n"
                               "ส่งต่อมาถึงหน่วยงาน: 1")
    assert card["type"] == "flex" and card["altText"].startswith("เรื่องล่าสุด\n")
    bubbles = card["contents"]["contents"]
    titles = [b["body"]["contents"][0]["text"] for b in bubbles]
    # the referral to us first, then the newest; never another district's or agency's case,
    # and no closed case
    assert titles == ["น้องมะลิ", "น้องบุญมี", "น้องอนันต์"]
    shown = str(card)
    for hidden in ("other_district", "other_agency", "closed"):
        assert area[hidden] not in shown
    for name in ("ชนบท", "ท้องถิ่น", "ปิดแล้ว"):
        assert name not in shown
    rows = {r["contents"][0]["text"]: r["contents"][1]["text"]
            for r in bubbles[0]["body"]["contents"][2]["contents"]}
    assert rows == {"เลขที่เรื่อง": area["referred"], "สถานะ": "ส่งต่อหน่วยงาน",
                    "ตำบล": "น้ำพอง", "ส่งมาจาก": "สถจ./อปท."}
    late = {r["contents"][0]["text"]: r["contents"][1]["text"]
            for r in bubbles[1]["body"]["contents"][2]["contents"]}
    assert late["สถานะ"] == "ตรวจสอบข้อมูล" and late["ตำบล"] == "วังชัย"
    assert late["กำหนด"].startswith("เกินกำหนดตั้งแต่ ")
    # only the referred case has an accept button; no console link without PUBLIC_URL
    assert [b["action"]["label"] for b in bubbles[0]["footer"]["contents"]] == ["รับเรื่อง"]
    assert "footer" not in bubbles[1] and "footer" not in bubbles[2]
    # the listing is a read of personal data: one audit row naming what was shown
    with work(app) as s:
        [entry] = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case.list"))
        assert entry.actor == area["username"] and entry.actor_kind == "officer"
        assert entry.detail["via"] == "line"
        assert entry.detail["references"] == [area["referred"], area["late"], area["new"]]


def test_a_supervisor_sees_every_agency_in_the_area(app, area, emulator, worker):
    with work(app) as s:
        line = add_user(s, "officer")
        add_officer(s, "LEARN", "4007", line, role="supervisor")
        user_id = line.line_user_id
    chat = officer_chat(app, emulator, worker, user_id)
    summary, card = chat.say("งาน")
    # new: ours and LOCAL's, both received; the referral is still to LEARN
    assert summary["text"] == ("งานของคุณค่ะ\nเรื่องใหม่: 2\nเกินกำหนด: 1\n"
                               "ส่งต่อมาถึงหน่วยงาน: 1")
    assert area["other_agency"] in card["altText"]
    assert area["other_district"] not in card["altText"]


def test_the_console_button_opens_the_case_when_the_public_address_is_set(
        app, area, emulator, worker, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://samoe.example.org/")
    chat = officer_chat(app, emulator, worker)
    _summary, card = chat.say("คิวงาน")
    buttons = card["contents"]["contents"][1]["footer"]["contents"]
    assert [b["action"] for b in buttons] == [{
        "type": "uri", "label": "เปิดในเว็บ",
        "uri": f"https://samoe.example.org/console/cases/{area['late']}"}]


def test_accept_with_a_tap_then_a_second_tap_changes_nothing(app, area, emulator, worker):
    chat = officer_chat(app, emulator, worker)
    _summary, card = chat.say("งานของฉัน")
    first = card["contents"]["contents"][0]
    answer = press(chat, first, "รับเรื่อง")
    assert answer[0]["text"] == (f"รับเรื่องแล้วค่ะ ตอนนี้หน่วยงานของคุณดูแลน้องมะลิ "
                                 f"(เลขที่เรื่อง {area['referred']})")
    with work(app) as s:
        case = s.scalar(sa.select(Case).where(Case.reference == area["referred"]))
        assert (case.owner_agency_code, case.owner_area_code) == ("LEARN", "4007")
        assert s.get(Referral, area["referral"]).decided_by == area["username"]
    again = press(chat, first, "รับเรื่อง")
    assert again[0]["text"] == (f"เรื่องของน้องมะลิ (เลขที่เรื่อง {area['referred']}) "
                                "มีการรับเรื่องไปแล้วค่ะ ไม่มีอะไรเปลี่ยนแปลง")
    with work(app) as s:
        accepted = s.scalars(sa.select(TimelineEntry).where(TimelineEntry.kind == "accepted"))
        assert len(accepted.all()) == 1
    summary, _card = chat.say("งานของฉัน")
    assert summary["text"].endswith("ส่งต่อมาถึงหน่วยงาน: 0")


def test_accept_from_the_referral_notification(app, area, emulator, worker):
    chat = Chat(emulator, worker, OFFICER)
    [notice] = chat._answer()  # the referral, pushed when LOCAL referred the case
    assert notice["text"].startswith("มีเรื่องส่งต่อมาถึงหน่วยงานของคุณค่ะ: น้องมะลิ")
    assert chat.tap("รับเรื่อง")[0]["text"].startswith("รับเรื่องแล้วค่ะ")
    with work(app) as s:
        assert s.get(Referral, area["referral"]).status == "accepted"


def test_a_tap_on_a_referral_declined_meanwhile_changes_nothing(app, area, emulator, worker):
    chat = officer_chat(app, emulator, worker)
    _summary, card = chat.say("งานของฉัน")
    with work(app) as s:  # a colleague declines it first: the case goes back to LOCAL
        colleague = add_officer(s, "LEARN", "4007")
        workflow.decline_referral(s, colleague, s.get(Referral, area["referral"]),
                                  "ไม่ใช่กลุ่มที่เราดูแล")
    answer = press(chat, card["contents"]["contents"][0], "รับเรื่อง")
    assert answer[0]["text"] == "เรื่องนี้ไม่อยู่ในงานของคุณแล้วค่ะ ไม่มีอะไรเปลี่ยนแปลง"
    with work(app) as s:
        referral = s.get(Referral, area["referral"])
        assert referral.status == "declined"
        assert referral.case.owner_agency_code == "LOCAL"


def test_a_referral_to_another_agency_cannot_be_accepted_by_a_crafted_tap(app, area, emulator,
                                                                          worker):
    with work(app) as s:
        line = add_user(s, "officer")
        add_officer(s, "LOCAL", "400701", line)
        user_id = line.line_user_id
    chat = officer_chat(app, emulator, worker, user_id)
    emulator.events(user=user_id, type="postback",
                    postback={"data": f"a=accept_referral&r={area['referral']}"})
    assert chat._answer()[0]["text"] == "เรื่องนี้ไม่อยู่ในงานของคุณแล้วค่ะ ไม่มีอะไรเปลี่ยนแปลง"
    with work(app) as s:
        assert s.get(Referral, area["referral"]).status == "pending"


def test_an_officer_with_nothing_open(app, emulator, worker):
    with work(app) as s:
        line = add_user(s, "officer")
        add_officer(s, "EEF", "40", line)
        user_id = line.line_user_id
    chat = officer_chat(app, emulator, worker, user_id)
    [answer] = chat.say("งานของฉัน")
    assert answer["text"].endswith("ตอนนี้ยังไม่มีเรื่องที่ต้องดูแลในพื้นที่ของคุณค่ะ")
    with work(app) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


def test_volunteers_and_strangers_are_told_who_it_is_for(app, emulator, worker):
    with work(app) as s:
        volunteer = add_user(s, "volunteer").line_user_id
    answer = Chat(emulator, worker, volunteer).say("งานของฉัน")
    assert answer[0]["text"] == ('เมนู "งานของฉัน" ใช้ได้เฉพาะเจ้าหน้าที่ของหน่วยงานค่ะ '
                                 'ดูเด็กที่คุณแจ้งไว้ได้โดยพิมพ์ "เคสของฉัน" นะคะ')
    stranger = Chat(emulator, worker, "U" + "0a" * 16)
    stranger.follow()
    assert stranger.say("งานของฉัน")[0]["text"].startswith(
        'เมนู "งานของฉัน" ใช้ได้เฉพาะเจ้าหน้าที่ของหน่วยงานค่ะ ถ้าคุณเป็นเจ้าหน้าที่')
    # and a crafted accept does nothing
    emulator.events(user=volunteer, type="postback", postback={"data": "a=accept_referral&r=1"})
    assert Chat(emulator, worker, volunteer)._answer()[-1]["text"].startswith(
        'เมนู "งานของฉัน" ใช้ได้เฉพาะเจ้าหน้าที่')


def test_an_unlinked_officer_links_with_an_invitation_code(app, area, emulator, worker):
    user_id = "U" + "ab" * 16
    with work(app) as s:
        s.add(LineUser(line_user_id=user_id, role="officer", followed=True,
                       full_name="สมหญิง รักงาน", agency_code="LEARN", area_code="4007"))
        named = accounts.create_officer(s, "somying.np", "correct horse 1", "officer",
                                        "LEARN", "4007")
        code, _row = invitations.issue(s, app.config["SECRET_KEY"], "officer", agency="LEARN",
                                       area="4007", officer_id=named.id)
    chat = Chat(emulator, worker, user_id)
    answer = chat.say("งานของฉัน")
    assert answer[0]["text"].startswith("บัญชี LINE นี้ยังไม่ได้เชื่อมกับบัญชีเจ้าหน้าที่ค่ะ")
    assert chat.labels() == ["ใส่รหัสเชิญ"]
    assert chat.tap("ใส่รหัสเชิญ")[0]["text"] == "กรุณาพิมพ์รหัสเชิญ 6 หลักค่ะ"
    assert chat.say(code)[0]["text"] == ('เชื่อมกับบัญชีเจ้าหน้าที่ somying.np แล้วค่ะ '
                                         'พิมพ์ "งานของฉัน" เพื่อดูงานได้เลยค่ะ')
    with work(app) as s:
        officer = s.scalar(sa.select(Officer).where(Officer.username == "somying.np"))
        assert officer.line_user_id == s.scalar(
            sa.select(LineUser.id).where(LineUser.line_user_id == user_id))
        assert s.scalar(sa.select(Invitation)).used_by == user_id
    summary = chat.say("งานของฉัน")[0]
    assert summary["text"].startswith("งานของคุณค่ะ\nเรื่องใหม่: 1")
    chat.emulator.events(user=user_id, type="postback", postback={"data": "a=officer_link&v=start"})
    assert chat._answer()[0]["text"] == (
        "บัญชี LINE นี้เชื่อมกับบัญชีเจ้าหน้าที่ somying.np อยู่แล้วค่ะ")


def test_an_officer_who_registers_on_line_gets_a_linked_console_account(app, emulator, worker):
    with app.app_context():
        code, _row = invitations.issue(db.session, app.config["SECRET_KEY"], "officer",
                                       agency="LEARN", area="4007")
        db.session.commit()
        db.session.remove()
    chat = Chat(emulator, worker, OFFICER)
    chat.follow()
    chat.tap("เจ้าหน้าที่")
    chat.say("วิชัย ศรีสุข")
    chat.say("0899999999")
    assert chat.say(code)[0]["text"].startswith("ลงทะเบียนเรียบร้อยแล้วค่ะ")
    with work(app) as s:
        user = s.scalar(sa.select(LineUser).where(LineUser.line_user_id == OFFICER))
        officer = accounts.officer_for_line_user(s, user)
        assert officer is not None and officer.username == f"line-{OFFICER[-8:]}"
        assert (officer.role, officer.agency_code, officer.area_code) == (
            "officer", "LEARN", "4007")
        assert officer.full_name == "วิชัย ศรีสุข" and officer.password_hash is None
    # and "my work" answers at once
    assert chat.say("งานของฉัน")[0]["text"].startswith("งานของคุณค่ะ\nเรื่องใหม่: 0")


def test_an_officer_invitation_naming_an_account_links_that_account(app, emulator, worker):
    with work(app) as s:
        named = accounts.create_officer(s, "wichai.np", "correct horse 1", "supervisor",
                                        "LEARN", "4007")
        code, _row = invitations.issue(s, app.config["SECRET_KEY"], "officer", agency="LEARN",
                                       area="4007", officer_id=named.id)
    chat = Chat(emulator, worker, OFFICER)
    chat.follow()
    chat.tap("เจ้าหน้าที่")
    chat.say("วิชัย ศรีสุข")
    chat.say("0899999999")
    chat.say(code)
    with work(app) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Officer)) == 1
        officer = s.scalar(sa.select(Officer))
        assert officer.username == "wichai.np" and officer.role == "supervisor"
        assert officer.line_user_id == s.scalar(
            sa.select(LineUser.id).where(LineUser.line_user_id == OFFICER))
