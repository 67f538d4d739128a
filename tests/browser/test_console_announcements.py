"""Announcements in the console, in Debian's chromium: an officer of อำเภอน้ำพอง writes one to
the district's volunteers, sees it as it will arrive on LINE with the month's budget, sends it,
and the worker delivers it to each volunteer once.

`SAMOE_SCREENSHOTS=docs bash scripts/test.sh tests/browser/test_console_announcements.py`
refreshes docs/console-announcement.png."""

from __future__ import annotations

from playwright.sync_api import expect

from bot.extensions import db
from tests import factories as f
from tests.api.test_announcements import card_text, multicast_to, users
from tests.browser.test_chat_page import screenshot
from tests.browser.test_console import DESKTOP, sign_in

TEXT = "ขอเชิญ อสม. ทุกท่านร่วมอบรมการคัดกรองเด็กนอกระบบ วันเสาร์นี้ 09:00 น. ที่ รพ.สต.น้ำพอง"


def test_screenshots_an_officer_announces_to_the_districts_volunteers(
        app, page, worker, emulator, tmp_path):
    with app.app_context():
        officer = f.officer(db.session, agency="LEARN", area="4007",
                            username="learn.nampong")
        officer.full_name = "วิไล ศรีสุข"
        db.session.commit()
        db.session.remove()
    volunteers = users(app, 12)
    emulator.quota(type="limited", value=15000)
    emulator.http.post(emulator.base + "/api/quota/consumption", json={"totalUsage": 3200},
                       timeout=10).raise_for_status()
    page.set_viewport_size(DESKTOP)
    sign_in(page)
    page.get_by_role("link", name="ประกาศ", exact=True).click()
    expect(page.get_by_role("heading", name="ข้อความ LINE เดือนนี้")).to_be_visible()
    expect(page.locator(".quota")).to_contain_text("3,200")

    page.get_by_label("ข้อความ", exact=True).fill(TEXT)
    page.get_by_label("ลิงก์เอกสาร (ถ้ามี)").fill("https://kkpao.go.th/training.pdf")
    page.get_by_role("button", name="ดูตัวอย่าง").click()
    expect(page.get_by_role("heading", name="ตรวจประกาศก่อนส่ง")).to_be_visible()
    card = page.locator(".fx-bubble")
    expect(card).to_contain_text("ประกาศจาก สกร.")
    expect(card).to_contain_text(TEXT)
    expect(card.get_by_role("link", name="เปิดเอกสาร")).to_have_attribute(
        "href", "https://kkpao.go.th/training.pdf")
    expect(page.locator(".facts")).to_contain_text("12")
    screenshot(page, tmp_path, "console-announcement.png")

    page.get_by_role("button", name="ส่งประกาศ").click()
    expect(page.locator(".flash")).to_contain_text("บันทึกแล้วค่ะ")
    worker.burst()
    page.reload()
    expect(page.locator("h1")).to_contain_text("ส่งแล้ว")
    delivered = [u for batch in multicast_to(emulator) for u in batch]
    assert sorted(delivered) == sorted(volunteers)
    [item] = emulator.sent(endpoint="multicast")
    assert card_text(item["messages"][0]) == TEXT
