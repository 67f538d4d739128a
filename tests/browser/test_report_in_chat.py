"""A volunteer reports a child on the chat page, from the menu to the reference number."""

from __future__ import annotations

import sqlalchemy as sa
from playwright.sync_api import expect

from models import Case, LineUser, utcnow
from tests.browser.test_chat_page import bot_text, open_chat, quick_reply, say

VOLUNTEER = "U" + "9c" * 16


def test_a_volunteer_reports_a_child_on_the_chat_page(page, emulator, run_worker, session):
    session.add(LineUser(line_user_id=VOLUNTEER, role="volunteer", full_name="สมศรี ใจดี",
                         village="บ้านโนนสะอาด", village_no=5, subdistrict_code="400701",
                         registered_at=utcnow(), followed=True))
    session.commit()
    emulator.http.post(emulator.base + "/api/users", timeout=10, json={
        "userId": VOLUNTEER, "displayName": "สมศรี (อสม.)"}).raise_for_status()
    run_worker()
    open_chat(page, VOLUNTEER)

    def tap(label: str) -> None:
        quick_reply(page, label).click()

    say(page, "เมนู")
    tap("แจ้งเด็ก")
    expect(bot_text(page, "น้องอยู่กลุ่มไหนคะ")).to_be_visible()
    tap("ไม่ได้เรียน 6-24 ปี")
    expect(bot_text(page, "น้องชื่ออะไรคะ")).to_be_visible()
    say(page, "สมชาย ดีมาก")
    tap("ชาย")
    expect(bot_text(page, "น้องเกิดวันไหนคะ")).to_be_visible()
    say(page, "อายุ 15")
    tap("ไม่มี/ไม่ทราบ")
    expect(bot_text(page, "ผู้ปกครองชื่ออะไร")).to_be_visible()
    say(page, "บัวผัน ใจดี ๐๘๑-๒๓๔-๕๖๗๘")
    tap("ปู่ย่าตายาย")
    tap("หมู่บ้านเดียวกับฉัน")
    tap("ออกกลางคัน")
    expect(bot_text(page, "เลือกแล้ว: ออกกลางคัน")).to_be_visible()
    tap("เสร็จ")
    tap("ข้าม")
    tap("ยินยอม")
    card = page.locator(".row.bot").filter(has_text="เรื่องของน้องสมชาย").last
    expect(card).to_be_visible()
    expect(card).to_contain_text("ตรวจดูก่อนส่งนะคะ")
    card.get_by_role("button", name="ส่งเรื่อง").click()
    reply = bot_text(page, "ส่งเรื่องเรียบร้อยแล้วค่ะ เลขที่เรื่อง KK-")
    expect(reply).to_be_visible()
    reference = session.scalar(sa.select(Case.reference))
    expect(reply).to_contain_text(reference)
