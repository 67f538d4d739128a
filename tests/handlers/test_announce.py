"""Announcements on LINE through the real webhook: an officer's "ประกาศ" (area → for a province
officer a district's subdistrict, paged with "อื่น ๆ" → one or several audiences → for parents,
the children's group → text → link → the preview exactly as it arrives → send), editing, the
quota questions (near the end, LINE unreadable), who may announce, and "ข่าวสาร" for volunteers
and parents."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.intents import match_intent
from models import Announcement, CaseGuardian, LineUser
from tests.handlers.test_notifications import add_case, add_officer, add_user, work
from tests.support import Chat

OFFICER = "U" + "a7" * 16
TEXT = "ขอเชิญ อสม. อำเภอน้ำพองทุกท่าน อบรมการคัดกรองเด็ก วันเสาร์ 09:00 น. ที่ รพ.สต.น้ำพอง"


@pytest.mark.parametrize("typed, intent", [
    ("ประกาศ", "announce"), ("ส่งประกาศ", "announce"), ("ขอประกาศหน่อยค่ะ", "announce"),
    ("ข่าวสาร", "news"), ("ดูข่าวค่ะ", "news"), ("ดูประกาศ", "news"), ("ข่าวล่าสุด", "news"),
    ("ประกาศนียบัตร", None),
])
def test_announce_and_news_are_understood(typed, intent):
    assert match_intent(typed) == intent


@pytest.fixture
def district(app):
    """A LEARN officer of อำเภอน้ำพอง on LINE, three volunteers there and one parent."""
    with work(app) as s:
        line = LineUser(line_user_id=OFFICER, role="officer", followed=True,
                        full_name="วิชัย ศรีสุข", agency_code="LEARN", area_code="4007")
        s.add(line)
        s.flush()
        add_officer(s, "LEARN", "4007", line)
        volunteers = [add_user(s, "volunteer") for _ in range(3)]
        parent = add_user(s, "parent")
        case = add_case(s, app.config["SECRET_KEY"], volunteers[0], "เด็กชายสมชาย ใจดี",
                        group="early_childhood")
        s.add(CaseGuardian(case_id=case.id, line_user_id=parent.id))
        return {"volunteers": [v.line_user_id for v in volunteers],
                "parent": parent.line_user_id}


def choose_audience(chat: Chat, audience: str) -> None:
    """One audience (then "เสร็จ"), or everyone; parents of every child."""
    assert chat.labels() == ["อสม.", "ผู้ปกครอง", "เจ้าหน้าที่", "ทุกกลุ่ม"]
    chat.tap(audience)
    if audience != "ทุกกลุ่ม":
        assert "เสร็จ" in chat.labels()
        chat.tap("เสร็จ")
    if audience in ("ผู้ปกครอง", "ทุกกลุ่ม"):
        assert chat.labels() == ["เด็กเล็ก 0-6 ปี", "ไม่ได้เรียน 6-24 ปี", "ผู้ปกครองทุกคน"]
        chat.tap("ผู้ปกครองทุกคน")


def compose(chat: Chat, audience: str = "อสม.", link: str = "ไม่มี"):
    chat.say("ประกาศ")
    assert chat.labels()[:3] == ["ทั้งอำเภอน้ำพอง", "ต.กุดน้ำใส", "ต.ทรายมูล"]
    chat.tap("ทั้งอำเภอน้ำพอง")
    choose_audience(chat, audience)
    chat.say(TEXT)
    return chat.say(link)


def test_an_officer_previews_exactly_what_arrives_and_sends_it(app, district, emulator, worker):
    chat = Chat(emulator, worker, OFFICER)
    preview = compose(chat, link="https://www.kkpao.go.th/training.pdf")
    card, question = preview
    assert card["altText"].startswith("📢 ประกาศจาก สกร.")
    assert card["contents"]["body"]["contents"][0]["text"] == TEXT
    assert card["contents"]["footer"]["contents"][0]["action"]["uri"] == (
        "https://www.kkpao.go.th/training.pdf")
    assert "ส่งถึง 3 คน (อสม.) ใน อ.น้ำพอง" in question["text"]
    assert chat.labels() == ["ส่งประกาศ", "แก้ไข", "ยกเลิก"]
    done = chat.tap("ส่งประกาศ")
    assert "ถึง 3 คนค่ะ" in done[0]["text"]
    worker.burst()
    [item] = emulator.sent(endpoint="multicast")
    assert sorted(item["to"]) == sorted(district["volunteers"])
    assert item["messages"] == [card]  # exactly as previewed
    finished = done + chat._answer()  # the worker may have finished it in the same burst
    assert any("ส่งถึงผู้รับแล้ว 3 คน" in m["text"] for m in finished)
    with work(app) as s:
        row = s.scalars(sa.select(Announcement)).one()
        assert (row.status, row.created_via, row.area_code) == ("sent", "line", "4007")


def test_editing_the_audience_from_the_preview(app, district, emulator, worker):
    chat = Chat(emulator, worker, OFFICER)
    compose(chat)
    chat.tap("แก้ไข")
    chat.tap("ผู้รับ")
    chat.tap("ผู้ปกครอง")  # chosen anew: only parents now
    chat.tap("เสร็จ")
    preview = chat.tap("ผู้ปกครองทุกคน")
    assert "ส่งถึง 1 คน (ผู้ปกครอง)" in preview[-1]["text"]
    chat.tap("ส่งประกาศ")
    worker.burst()
    assert [item["to"] for item in emulator.sent(endpoint="multicast")] == [[district["parent"]]]


def test_a_bad_link_is_asked_again_and_a_too_long_text_too(app, district, emulator, worker):
    chat = Chat(emulator, worker, OFFICER)
    chat.say("ประกาศ")
    chat.tap("ทั้งอำเภอน้ำพอง")
    choose_audience(chat, "อสม.")
    again = chat.say("ก" * 5001)
    assert "ไม่เกิน 5,000" in again[0]["text"] or "5,000" in again[0]["text"]
    chat.say("🎉 " + TEXT)
    hint = chat.say("javascript:alert(1)")
    assert "https://" in hint[0]["text"]
    preview = chat.say("ไม่มี")
    assert preview[0]["contents"]["body"]["contents"][0]["text"] == "🎉 " + TEXT


def test_near_the_end_of_the_quota_the_officer_is_asked_and_over_it_refused(
        app, district, emulator, worker):
    emulator.quota(type="limited", value=100)
    emulator.http.post(emulator.base + "/api/quota/consumption", json={"totalUsage": 95},
                       timeout=10).raise_for_status()
    chat = Chat(emulator, worker, OFFICER)
    compose(chat)
    asked = chat.tap("ส่งประกาศ")
    assert "โควตา" in asked[0]["text"] and chat.labels()[0] == "ยืนยันส่ง"
    chat.tap("ยืนยันส่ง")
    worker.burst()
    assert len(emulator.sent(endpoint="multicast")) == 1
    emulator.http.post(emulator.base + "/api/quota/consumption", json={"totalUsage": 99},
                       timeout=10).raise_for_status()
    compose(chat)
    refused = chat.tap("ส่งประกาศ")
    assert "เหลือ 1" in refused[0]["text"] and "ต้องใช้ 3" in refused[0]["text"]


def test_only_linked_officers_announce(app, district, emulator, worker):
    chat = Chat(emulator, worker, district["volunteers"][0])
    answer = chat.say("ประกาศ")
    assert "ข่าวสาร" in answer[0]["text"]
    with work(app) as s:
        assert s.scalars(sa.select(Announcement)).all() == []


def test_volunteers_and_parents_read_the_news_of_their_area(app, district, emulator, worker):
    chat = Chat(emulator, worker, OFFICER)
    compose(chat, audience="ทุกกลุ่ม", link="https://www.kkpao.go.th/a.pdf")
    chat.tap("ส่งประกาศ")
    worker.burst()
    volunteer = Chat(emulator, worker, district["volunteers"][1])
    news = volunteer.say("ข่าวสาร")
    body = [m for m in news if "ประกาศล่าสุด" in m.get("text", "")][0]["text"]
    assert TEXT in body and "สกร." in body and "https://www.kkpao.go.th/a.pdf" in body
    parent = Chat(emulator, worker, district["parent"])
    assert TEXT in parent.say("ดูข่าว")[-1]["text"]
    with work(app) as s:
        stranger = add_user(s, "volunteer")
        stranger.subdistrict_code = "401801"  # ชนบท: another district
        stranger_id = stranger.line_user_id
    other = Chat(emulator, worker, stranger_id)
    assert "ยังไม่มีประกาศ" in other.say("ข่าวสาร")[-1]["text"]


def test_several_audiences_and_the_parents_of_young_children_only(app, district, emulator,
                                                                 worker):
    with work(app) as s:
        other = add_user(s, "parent")
        volunteer = s.scalar(sa.select(LineUser).where(
            LineUser.line_user_id == district["volunteers"][0]))
        older = add_case(s, app.config["SECRET_KEY"], volunteer, "เด็กหญิงมาลี ใจดี",
                         group="out_of_school")
        s.add(CaseGuardian(case_id=older.id, line_user_id=other.id))
        other_id = other.line_user_id
    chat = Chat(emulator, worker, OFFICER)
    chat.say("ประกาศ")
    chat.tap("ทั้งอำเภอน้ำพอง")
    chat.tap("อสม.")
    assert chat.labels() == ["ผู้ปกครอง", "เจ้าหน้าที่", "เสร็จ"]
    asked = chat.tap("ผู้ปกครอง")
    assert "อสม., ผู้ปกครอง" in asked[0]["text"]
    chat.tap("เสร็จ")
    chat.tap("เด็กเล็ก 0-6 ปี")
    chat.say(TEXT)
    preview = chat.say("ไม่มี")
    assert "ส่งถึง 4 คน (อสม., ผู้ปกครอง (เด็กเล็ก 0-6 ปี))" in preview[-1]["text"]
    chat.tap("ส่งประกาศ")
    worker.burst()
    [item] = emulator.sent(endpoint="multicast")
    assert sorted(item["to"]) == sorted([*district["volunteers"], district["parent"]])
    assert other_id not in item["to"]  # a parent of an out-of-school child
    with work(app) as s:
        row = s.scalars(sa.select(Announcement)).one()
        assert row.audience == ["volunteers", "parents", "group:early_childhood"]


def test_a_province_officer_pages_through_the_districts_and_picks_a_subdistrict(
        app, emulator, worker):
    kud_nam_sai = "400712"  # ตำบลกุดน้ำใส, อำเภอน้ำพอง
    province_officer = "U" + "b8" * 16
    with work(app) as s:
        line = LineUser(line_user_id=province_officer, role="officer", followed=True,
                        agency_code="LOCAL", area_code="40")
        s.add(line)
        s.flush()
        add_officer(s, "LOCAL", "40", line)
        reporter = add_user(s, "volunteer")
        parent, elsewhere = add_user(s, "parent"), add_user(s, "parent")
        for guardian, place in ((parent, kud_nam_sai), (elsewhere, "400701")):
            case = add_case(s, app.config["SECRET_KEY"], reporter, "เด็กชายต้น ใจดี",
                            group="early_childhood", subdistrict=place)
            s.add(CaseGuardian(case_id=case.id, line_user_id=guardian.id))
        parent_id = parent.line_user_id
    chat = Chat(emulator, worker, province_officer)
    chat.say("ประกาศ")
    first = chat.labels()
    assert len(first) == 13 and first[0] == "ทั้งจังหวัดขอนแก่น" and first[-1] == "อื่น ๆ"
    assert "อ.น้ำพอง" in first
    chat.tap("อื่น ๆ")
    chat.tap("อื่น ๆ")
    assert chat.labels() == ["อ.แวงใหญ่", "อ.โคกโพธิ์ไชย", "อ.โนนศิลา"]  # the last of 26
    asked = chat.say("อำเภอน้ำพอง")  # a district's name typed works too
    assert "ทั้งอำเภอ" in asked[0]["text"]
    assert chat.labels()[:2] == ["ทั้งอำเภอน้ำพอง", "ต.กุดน้ำใส"]
    chat.tap("ต.กุดน้ำใส")
    chat.tap("ผู้ปกครอง")
    chat.tap("เสร็จ")
    chat.tap("เด็กเล็ก 0-6 ปี")
    chat.say("ศูนย์พัฒนาเด็กเล็กเปิดวันจันทร์นี้ค่ะ")
    preview = chat.say("ไม่มี")
    assert "ส่งถึง 1 คน (ผู้ปกครอง (เด็กเล็ก 0-6 ปี)) ใน ต.กุดน้ำใส" in preview[-1]["text"]
    assert "อนุมัติ" not in preview[-1]["text"]  # a subdistrict: no approval needed
    chat.tap("ส่งประกาศ")
    worker.burst()
    assert [item["to"] for item in emulator.sent(endpoint="multicast")] == [[parent_id]]
    with work(app) as s:
        row = s.scalars(sa.select(Announcement)).one()
        assert (row.area_code, row.status) == (kud_nam_sai, "sent")


def test_when_line_cannot_say_what_is_left_the_officer_is_asked(app, district, emulator,
                                                                worker):
    chat = Chat(emulator, worker, OFFICER)
    compose(chat)
    emulator.fault("quota", status=500, count=1)
    asked = chat.tap("ส่งประกาศ")
    assert "ถาม LINE ไม่ได้" in asked[0]["text"] and chat.labels()[0] == "ยืนยันส่ง"
    with work(app) as s:
        assert s.scalars(sa.select(Announcement)).all() == []
    chat.tap("ยืนยันส่ง")
    worker.burst()
    assert len(emulator.sent(endpoint="multicast")) == 1
