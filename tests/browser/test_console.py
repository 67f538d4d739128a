"""The officer console in Debian's chromium: an officer of อำเภอน้ำพอง's learning-promotion
office signs in, finds a child in the queue and works the case to closed (verify → in support
→ a service → a home visit → close), each step confirmed on a page that says what will be
recorded (going back keeps what was typed); a form whose CSRF token was taken out is refused
and changes nothing.

Screenshots go to the test's tmp folder, and to `$SAMOE_SCREENSHOTS` too when it is set
(`SAMOE_SCREENSHOTS=docs bash scripts/test.sh tests/browser/test_console.py` refreshes
docs/console-queue.png and docs/console-case.png)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from playwright.sync_api import expect

from bot.extensions import db
from bot.thai_text import thai_date
from models import BANGKOK, Case, TimelineEntry
from tests import factories as f
from tests.browser.test_chat_page import screenshot

CHILD = "เด็กชายต้นกล้า ใจดี"
PASSWORD = "correct horse 1"
DESKTOP = {"width": 1280, "height": 900}


def a_queue(app) -> str:
    """A few cases of อำเภอน้ำพอง (one overdue, one verifying) and the LEARN officer."""
    with app.app_context():
        s = db.session
        secret = app.config["SECRET_KEY"]
        volunteer = f.line_user(s, name="สมศรี อาสาดี")
        officer = f.officer(s, agency="LEARN", area="4007", username="learn.nampong")
        officer.full_name = "วิไล ศรีสุข"
        others = [f.report(s, secret, volunteer, name=name, subdistrict=place)
                  for name, place in (("นางสาวมะลิ หอมดี", f.WANG_CHAI),
                                      ("เด็กชายข้าวหอม มีสุข", f.NAM_PHONG),
                                      ("นายภูผา แสงทอง", f.WANG_CHAI))]
        others[0].due_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
        from services import workflow

        workflow.transition(s, f.actor(officer), others[2], "verifying")
        case = f.report(s, secret, volunteer, name=CHILD, id_kind="citizen_id",
                        id_number="1103700012346", latitude=16.70, longitude=102.85)
        s.commit()
        reference = case.reference
        s.remove()
    return reference


def sign_in(page) -> None:
    page.goto("/console/cases")
    expect(page.get_by_role("heading", name="เข้าสู่ระบบ เสมอ")).to_be_visible()
    page.get_by_label("ชื่อผู้ใช้").fill("learn.nampong")
    page.get_by_label("รหัสผ่าน").fill(PASSWORD)
    page.get_by_role("button", name="เข้าสู่ระบบ").click()
    expect(page.get_by_role("heading", name="รายการเรื่อง")).to_be_visible()


def move_to(page, stage: str) -> None:
    page.get_by_role("button", name=f'เปลี่ยนเป็น "{stage}"', exact=True).click()
    expect(page.get_by_role("heading", name=f'ยืนยันเปลี่ยนสถานะเป็น "{stage}" ไหมคะ')) \
        .to_be_visible()
    page.get_by_role("button", name="ยืนยันเปลี่ยนสถานะ").click()
    expect(page.locator(".flash")).to_contain_text(f'สถานะตอนนี้คือ "{stage}"')
    expect(page.locator(".case-head .stage")).to_have_text(stage)


def test_screenshots_an_officer_works_a_case_from_the_queue_to_closed(
        app, page, session, tmp_path):
    reference = a_queue(app)
    page.set_viewport_size(DESKTOP)
    sign_in(page)

    # The queue: four cases, names masked, counts on the chips, the overdue one marked.
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("table.queue")).to_contain_text("ต้นกล้า จ.")
    expect(page.locator("table.queue")).not_to_contain_text("ใจดี")
    expect(page.locator(".chip", has_text="เลยกำหนด")).to_contain_text("1")
    expect(page.locator(".chip", has_text="รับเรื่อง")).to_contain_text("3")
    assert page.evaluate("document.fonts.check('16px \"Noto Sans Thai\"', 'ก')") is True
    screenshot(page, tmp_path, "console-queue.png")

    # Search by name, open the case.
    page.get_by_label("ชื่อเด็กหรือเลขที่เรื่อง").fill("ต้นกล้า")
    page.get_by_role("button", name="แสดง", exact=True).click()
    expect(rows).to_have_count(1)
    page.get_by_role("link", name=reference).click()
    expect(page.locator(".case-head h1")).to_contain_text("ต้นกล้า จ.")
    expect(page.locator("main")).to_contain_text("••••• 2346")

    # Reveal (audited), then work the case.
    page.get_by_role("button", name="แสดงข้อมูล").click()
    expect(page.locator(".case-head h1")).to_contain_text(CHILD)
    expect(page.get_by_role("link", name="เปิดในแอปแผนที่")).to_have_attribute(
        "href", "https://www.google.com/maps?q=16.7,102.85")
    move_to(page, "ตรวจสอบข้อมูล")
    move_to(page, "กำลังช่วยเหลือ")

    # A service: the confirmation says what will be recorded, in words and a Buddhist-era
    # date (the empty date is today); going back keeps what was typed.
    page.locator("#service-code").select_option("learn_enrolment")
    page.locator("#service-note").fill("สมัครเรียน ศกร.น้ำพอง ภาคเรียนที่ 2")
    page.get_by_role("button", name="บันทึกความช่วยเหลือ").click()
    confirm = page.locator("#confirm")
    expect(confirm.get_by_role("heading")).to_have_text("ยืนยันบันทึกความช่วยเหลือนี้ไหมคะ")
    expect(confirm).to_contain_text("สมัครเรียน ศกร.น้ำพอง ภาคเรียนที่ 2")
    expect(confirm).to_contain_text(thai_date(dt.datetime.now(BANGKOK).date()))
    page.get_by_role("button", name="ย้อนกลับไปแก้ไข").click()
    expect(page.locator("#service-note")).to_have_value("สมัครเรียน ศกร.น้ำพอง ภาคเรียนที่ 2")
    expect(page.locator("#service-code")).to_have_value("learn_enrolment")
    page.get_by_role("button", name="บันทึกความช่วยเหลือ").click()
    page.get_by_role("button", name="ยืนยันบันทึก").click()
    expect(page.locator(".flash")).to_contain_text("บันทึกความช่วยเหลือแล้วค่ะ")

    page.locator("#visit-outcome").select_option("back_in_school")
    page.get_by_role("button", name="บันทึกการเยี่ยมบ้าน").click()
    expect(page.locator("#confirm").get_by_role("heading")).to_have_text(
        "ยืนยันบันทึกการเยี่ยมบ้านนี้ไหมคะ")
    page.get_by_role("button", name="ยืนยันบันทึก").click()
    expect(page.locator(".flash")).to_contain_text("บันทึกการเยี่ยมบ้านแล้วค่ะ")

    move_to(page, "ปิดเคส")
    expect(page.locator("#timeline")).to_contain_text("เปลี่ยนสถานะ")
    expect(page.get_by_role("button", name="เปิดเรื่องอีกครั้ง")).to_be_visible()
    session.expire_all()
    assert session.scalar(sa.select(Case.stage).where(Case.reference == reference)) == "closed"
    kinds = list(session.scalars(sa.select(TimelineEntry.kind).join(Case).where(
        Case.reference == reference).order_by(TimelineEntry.id)))
    assert [k for k in kinds if k not in ("note", "consent")] == [
        "created", "verified", "status", "service", "visit", "status"]
    page.get_by_role("button", name="ซ่อนข้อมูลส่วนบุคคล").click()
    expect(page.locator(".case-head h1")).to_contain_text("ต้นกล้า จ.")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, tmp_path, "console-case.png")


def test_a_form_without_its_csrf_token_is_refused_in_the_browser(app, page, session):
    reference = a_queue(app)
    sign_in(page)
    page.goto(f"/console/cases/{reference}")
    page.evaluate("document.querySelector('#note-form input[name=csrf_token]').remove()")
    page.locator("#note-text").fill("ไม่ควรถูกบันทึก")
    page.get_by_role("button", name="บันทึก", exact=True).click()
    expect(page.get_by_role("heading", name="แบบฟอร์มนี้หมดอายุแล้ว")).to_be_visible()
    session.expire_all()
    notes = session.scalars(sa.select(TimelineEntry.detail).where(TimelineEntry.kind == "note"))
    assert all("ไม่ควรถูกบันทึก" not in (d or {}).get("text", "") for d in notes)
    # the officer is still signed in, and the form works with its token
    page.goto(f"/console/cases/{reference}")
    page.locator("#note-text").fill("โทรคุยกับแม่แล้ว")
    page.get_by_role("button", name="บันทึก", exact=True).click()
    page.get_by_role("button", name="ยืนยันบันทึก").click()
    expect(page.locator(".flash")).to_contain_text("บันทึกแล้วค่ะ")
    expect(page.locator("#timeline")).to_contain_text("โทรคุยกับแม่แล้ว")
