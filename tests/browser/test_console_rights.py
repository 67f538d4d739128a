"""A guardian's data-subject rights in Debian's chromium: the officer in charge opens the
printable page from the case (Thai in the app's own Noto Sans Thai, the photo shown, printed to
PDF by the browser), asks for the erasure with the guardian's reason and confirms; another
supervisor of the district approves it from the requests page (confirmed); the case then shows
that its personal data was erased.

The screenshot goes to the test's tmp folder, and to `$SAMOE_SCREENSHOTS` too when it is set
(`SAMOE_SCREENSHOTS=docs bash scripts/test.sh tests/browser/test_console_rights.py` refreshes
docs/console-export.png)."""

from __future__ import annotations

import sqlalchemy as sa
from playwright.sync_api import expect

from bot.extensions import db
from models import AuditEntry, Case, ErasureRequest
from tests import factories as f
from tests.browser.test_chat_page import screenshot, tiny_png
from tests.rights_support import CHILD, full_case

PASSWORD = "correct horse 1"
DESKTOP = {"width": 1100, "height": 900}


def sign_in(page, username: str) -> None:
    page.goto("/console/cases")
    page.get_by_label("ชื่อผู้ใช้").fill(username)
    page.get_by_label("รหัสผ่าน").fill(PASSWORD)
    page.get_by_role("button", name="เข้าสู่ระบบ").click()
    expect(page.get_by_role("heading", name="รายการเรื่อง")).to_be_visible()


def test_screenshots_export_then_erasure_asked_and_approved_by_another_supervisor(
        app, context, page, session, tmp_path):
    with app.app_context():
        owner = f.officer(db.session, agency="LEARN", area="4007", username="learn.nampong")
        f.officer(db.session, role="supervisor", agency="EDU", area="4007",
                  username="boss.nampong")
        reference = full_case(db.session, app.config["SECRET_KEY"], owner=owner,
                              photo=("image/png", tiny_png())).reference
        db.session.remove()
    page.set_viewport_size(DESKTOP)
    sign_in(page, "learn.nampong")
    page.goto(f"/console/cases/{reference}")
    rights = page.locator("#rights")
    expect(rights).to_contain_text("สิทธิ์ในข้อมูลของผู้ปกครอง")

    with context.expect_page() as opened:
        rights.get_by_role("link", name="หน้าสำหรับพิมพ์").click()
    printable = opened.value
    printable.set_viewport_size(DESKTOP)
    expect(printable.get_by_role("heading", level=1)).to_have_text(
        "ข้อมูลทั้งหมดที่เสมอเก็บไว้เกี่ยวกับน้อง")
    expect(printable.locator("body")).to_contain_text(CHILD)
    printable.evaluate("document.fonts.ready")
    assert printable.evaluate("document.fonts.check('16px \"Noto Sans Thai\"')")
    assert printable.evaluate(
        "[...document.fonts].some(f => f.family.includes('Noto Sans Thai')"
        " && f.status === 'loaded')")
    photo = printable.locator(".photos img").first
    expect(photo).to_be_visible()
    assert photo.evaluate("img => img.complete && img.naturalWidth") == 8
    screenshot(printable, tmp_path, "console-export.png")
    printable.emulate_media(media="print")
    expect(printable.locator("#print")).to_be_hidden()  # the button is not printed
    pdf = printable.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    printable.close()

    rights.get_by_role("link", name="ขอลบข้อมูล").click()
    expect(page.get_by_role("heading", name="ขอลบข้อมูลของน้อง")).to_be_visible()
    page.get_by_label("เหตุผลของผู้ปกครอง และช่องทางที่ขอมา").fill(
        "แม่โทรมาขอให้ลบข้อมูลทั้งหมด 🙏 ครอบครัวย้ายไปอยู่ลำปาง")
    page.get_by_role("button", name="ส่งคำขอลบข้อมูล").click()
    expect(page.get_by_role("heading", name=f"ส่งคำขอลบข้อมูลของเรื่อง {reference} ใช่ไหมคะ")) \
        .to_be_visible()
    page.get_by_role("button", name="ส่งคำขอ").click()
    expect(page.locator(".flash")).to_contain_text("ส่งคำขอแล้วค่ะ")
    expect(page.locator("#rights")).to_contain_text("กำลังรอหัวหน้าพิจารณาค่ะ")
    page.get_by_role("button", name="ออกจากระบบ").click()

    sign_in(page, "boss.nampong")
    page.get_by_role("link", name="คำขอลบข้อมูล").click()
    row = page.locator("table.queue tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("ครอบครัวย้ายไปอยู่ลำปาง")
    row.get_by_role("button", name="อนุมัติและลบข้อมูล").click()
    expect(page.get_by_role("heading")).to_contain_text("อนุมัติการลบข้อมูลใช่ไหมคะ")
    page.get_by_role("button", name="ยืนยันลบข้อมูล").click()
    expect(page.locator(".flash")).to_contain_text("ลบข้อมูลส่วนบุคคลของน้องแล้ว")
    expect(page.locator("main")).to_contain_text("ไม่มีคำขอที่รอพิจารณาค่ะ")

    page.goto(f"/console/cases/{reference}")
    expect(page.locator(".case-head")).to_contain_text("ลบข้อมูลส่วนบุคคลแล้ว")
    expect(page.locator("main")).not_to_contain_text(CHILD)
    session.expire_all()
    assert session.scalar(sa.select(ErasureRequest.status)) == "done"
    assert session.scalar(sa.select(Case.child_name).where(Case.reference == reference)) == \
        reference
    actions = list(session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.action.like("subject.%")).order_by(AuditEntry.id)))
    assert actions == ["subject.export", "subject.erasure_request", "subject.erasure_list",
                       "subject.erasure_approve", "subject.erase", "subject.erasure_list"]
