"""A parent on the chat page, against Samoe's own bot: picks their LINE user, follows, taps
"ผู้ปกครอง", types the link code in Thai digits and sees the child's status card; then, with the
page still open, an officer's changes (made through the domain service) arrive as pushes
without a reload, the parent confirms the help received and asks for the status again.

Screenshots go to the test's tmp folder, and to `$SAMOE_SCREENSHOTS` too when it is set
(`SAMOE_SCREENSHOTS=docs python -m pytest tests/browser -k screenshots` refreshes
docs/parent-linked.png and docs/parent-helped.png with the chat page's pictures).
"""

from __future__ import annotations

import sqlalchemy as sa
from playwright.sync_api import expect

from bot.extensions import db
from models import Case, CaseGuardian, CaseService, LineUser, Officer
from services import cases, workflow
from tests import factories as f
from tests.browser.test_chat_page import (
    CHAT,
    bot_text,
    inbox_payloads,
    quick_reply,
    say,
    screenshot,
    shows_what_was_sent,
)
from tests.support import wait_until

PARENT = "U" + "a7" * 16
PARENT_NAME = "แม่บัวพันธ์ (ผู้ปกครอง)"
CHILD = "เด็กชายต้นกล้า ใจดี"
REPORTER = "สมศรี อาสาดี"
THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


def a_case_and_its_code(app) -> tuple[int, str, str]:
    """A volunteer's case in ตำบลน้ำพอง, a LEARN officer of อำเภอน้ำพอง, and a link code."""
    with app.app_context():
        s = db.session
        volunteer = f.line_user(s, name=REPORTER)
        case = f.report(s, app.config["SECRET_KEY"], volunteer, name=CHILD,
                        group="out_of_school", subdistrict=f.NAM_PHONG)
        f.officer(s, agency="LEARN", area="4007", username="learn.nampong")
        code = cases.issue_link_code(s, app.config["SECRET_KEY"], case, "test")
        s.commit()
        ids = case.id, case.reference, code
        s.remove()
    return ids


def as_the_officer(app, case_id: int, change) -> None:
    """Make a change through the domain service as the LEARN officer, and commit it."""
    with app.app_context():
        s = db.session
        officer = s.scalar(sa.select(Officer).where(Officer.username == "learn.nampong"))
        change(s, f.actor(officer), s.get(Case, case_id))
        s.commit()
        s.remove()


def test_screenshots_a_parent_links_a_child_and_follows_the_help_on_the_chat_page(
    app, page, emulator, run_worker, session, tmp_path
):
    case_id, reference, code = a_case_and_its_code(app)
    emulator.http.post(emulator.base + "/api/users", timeout=10, json={
        "userId": PARENT, "displayName": PARENT_NAME, "followed": False}).raise_for_status()
    run_worker()

    # The parent picks their LINE user on the page and adds Samoe as a friend.
    page.goto(CHAT)
    page.get_by_label("ผู้ใช้", exact=True).select_option(label=f"{PARENT_NAME} (บล็อก)")
    expect(page.locator("#log")).to_have_attribute("data-user", PARENT)
    page.get_by_role("button", name="เพิ่มเพื่อน (follow)").click()
    expect(bot_text(page, "ยินดีต้อนรับ")).to_be_visible()
    expect(page.locator("#follow-state")).to_have_text("เป็นเพื่อนแล้ว")

    quick_reply(page, "ผู้ปกครอง").click()
    expect(page.locator(".row.user .msg-user-text").last).to_have_text("ผู้ปกครอง")
    expect(bot_text(page, "รหัส 6 หลัก")).to_be_visible()
    expect(quick_reply(page, "ยังไม่มีรหัส")).to_be_visible()

    assert len(code) == 6 and code.isascii() and code.isdigit()
    thai_code = code.translate(THAI_DIGITS)
    say(page, thai_code)
    expect(page.locator(".row.user .msg-user-text").last).to_have_text(thai_code)
    expect(bot_text(page, "เรียบร้อยค่ะ")).to_be_visible()
    typed = [e["message"]["text"] for e in inbox_payloads(session, PARENT)
             if e["type"] == "message"]
    assert typed == [thai_code]  # the bot got the Thai digits, as typed, and linked
    card = page.locator(".row.bot .msg-flex .flex-bubble")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("น้องต้นกล้า")
    expect(card).to_contain_text(reference)
    expect(card).to_contain_text("รับเรื่องแล้ว")
    expect(card).to_contain_text("สกร.")
    expect(card).to_be_in_viewport()
    linked = sa.select(LineUser.role).where(LineUser.line_user_id == PARENT)
    assert session.scalar(linked) == "parent"
    assert session.scalar(sa.select(CaseGuardian.case_id)) == case_id
    assert page.evaluate("document.fonts.check('16px \"Noto Sans Thai\"', 'ก')") is True
    screenshot(page, tmp_path, "parent-linked.png")

    # An officer helps; the news reaches the open page without a reload, each once.
    page.evaluate("window.notReloaded = true")
    as_the_officer(app, case_id, lambda s, who, case: workflow.transition(
        s, who, case, "in_support"))
    news = bot_text(page, "น้องต้นกล้า (เลขที่เรื่อง")
    expect(news).to_have_count(1)
    expect(news).to_contain_text("สถานะ: กำลังช่วยเหลือ")
    as_the_officer(app, case_id, lambda s, who, case: workflow.record_service(
        s, who, case, "learn_enrolment"))
    question = bot_text(page, "ได้รับแล้วใช่ไหมคะ")
    expect(question).to_have_count(1)
    expect(question).to_contain_text("เข้าเรียนกับ สกร.")
    expect(page.locator("#quick-replies > *")).to_have_text(["ได้รับแล้ว", "ยังไม่ได้รับ"])
    endpoints = page.locator(".row.bot").evaluate_all("rows => rows.map(r => r.dataset.endpoint)")
    assert endpoints[-2:] == ["push", "push"]

    quick_reply(page, "ได้รับแล้ว").click()
    expect(page.locator(".row.user .msg-user-text").last).to_have_text("ได้รับแล้ว")
    expect(bot_text(page, "ขอบคุณค่ะ บันทึกแล้วว่าน้องต้นกล้า")).to_have_count(1)
    # the thank-you offers the next step: the status, one tap away
    expect(page.locator("#quick-replies > *")).to_have_text(["ดูสถานะ"])
    confirmed = wait_until(lambda: session.scalar(sa.select(CaseService.confirmed_by)))
    assert confirmed == PARENT

    quick_reply(page, "ดูสถานะ").click()
    expect(page.locator(".row.user .msg-user-text").last).to_have_text("ดูสถานะ")
    expect(card).to_have_count(2)
    expect(card.last).to_contain_text("กำลังช่วยเหลือ")
    expect(card.last).to_contain_text("น้องต้นกล้า")
    expect(card.last).to_be_in_viewport()
    assert page.evaluate("window.notReloaded") is True

    # The page shows exactly the texts Samoe sent, and never the reporter's name.
    wait_until(lambda: shows_what_was_sent(page, emulator, PARENT))
    expect(page.locator("#log")).not_to_contain_text(REPORTER)
    screenshot(page, tmp_path, "parent-helped.png")
