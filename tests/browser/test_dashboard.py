"""The dashboards in Debian's chromium: a provincial supervisor signs in, opens the dashboard
from the menu and sees the heat-map (districts by stage, shaded, every number written), the
bars, the monthly chart and the cards; opens a district; and anyone opens /public without
signing in and sees the province's protected counts in the app's Thai font.

Screenshots go to the test's tmp folder, and to `$SAMOE_SCREENSHOTS` too when it is set
(`SAMOE_SCREENSHOTS=docs bash scripts/test.sh tests/browser/test_dashboard.py` refreshes
docs/console-dashboard.png and docs/public-dashboard.png)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from playwright.sync_api import expect

from bot.extensions import db
from models import Area
from tests import factories as f
from tests.browser.test_chat_page import screenshot
from tests.services.test_dashboard import make_case

PASSWORD = "correct horse 1"
DESKTOP = {"width": 1280, "height": 1000}
DAY = dt.timedelta(days=1)
STAGES = ["received", "verifying", "referred", "in_support", "follow_up", "closed"]


@pytest.fixture(autouse=True)
def fresh_figures(app):
    """The public page's figures kept by another test go (the dashboard's stored ones go
    with the tables)."""
    app.extensions.pop("samoe.public", None)
    yield
    app.extensions.pop("samoe.public", None)


def a_province(app) -> None:
    """About 400 cases over a year in nine districts (many in a few, a handful in others),
    and the province's supervisor."""
    rng = random.Random(2569)
    now = dt.datetime.now(dt.UTC)
    weights = {"4001": 90, "4007": 70, "4005": 55, "4010": 45, "4018": 30, "4012": 25,
               "4016": 14, "4024": 6, "4029": 3}
    with app.app_context():
        s = db.session
        subs = {code: [a.code for a in s.query(Area).filter(Area.parent_code == code)]
                for code in weights}
        for district, n in weights.items():
            for _i in range(n):
                # a day old at least: reported before midnight, so on /public too
                created = now - dt.timedelta(days=rng.uniform(1, 360))
                stage = rng.choices(STAGES, weights=[10, 8, 6, 14, 6, 18])[0]
                age = (now - created).days
                acted = None if stage == "received" and rng.random() < .6 else \
                    dt.timedelta(days=rng.uniform(0.2, min(20, max(age, 1))))
                closed = created + dt.timedelta(days=rng.uniform(10, max(age, 11))) \
                    if stage == "closed" else None
                closed = min(closed, now - DAY / 2) if closed else None
                touched = closed or now - dt.timedelta(days=rng.choice([1, 3, 9, 20, 40, 70]))
                touched = max(touched, created)
                due = None if stage == "closed" else now + dt.timedelta(
                    days=rng.uniform(-25, 20))
                make_case(s, subdistrict=rng.choice(subs[district]),
                          group=rng.choice(["early_childhood", "out_of_school"]),
                          agency=rng.choice(["LEARN", "LOCAL", "LOCAL", "OBEC", "SOCIAL"]),
                          stage=stage, created=created, first_action=acted, updated=touched,
                          due=due, closed=closed,
                          escalation=1 if due and due < now - 7 * DAY else 0)
        boss = f.officer(s, role="supervisor", agency="EDU", area="40", username="boss.kk")
        boss.full_name = "ประภา ศรีสว่าง"
        s.commit()
        s.remove()


def test_screenshots_a_supervisor_opens_the_dashboard_and_sees_the_heat_map(
        app, page, tmp_path):
    a_province(app)
    page.set_viewport_size(DESKTOP)
    page.goto("/console/login")
    page.get_by_label("ชื่อผู้ใช้").fill("boss.kk")
    page.get_by_label("รหัสผ่าน").fill(PASSWORD)
    page.get_by_role("button", name="เข้าสู่ระบบ").click()
    expect(page.get_by_role("heading", name="รายการเรื่อง")).to_be_visible()

    page.locator("header nav").get_by_role("link", name="ภาพรวม").click()
    expect(page.get_by_role("heading", name="ภาพรวม: ขอนแก่น")).to_be_visible()
    heat = page.get_by_role("table", name="จำนวนเรื่องแยกตามอำเภอและขั้นตอน")
    expect(heat).to_be_visible()
    expect(heat.locator("tbody tr")).to_have_count(26)
    mueang = heat.locator("tbody tr", has=page.get_by_role("link", name="เมืองขอนแก่น"))
    expect(mueang.locator("td.sum")).to_have_text("90")
    empty = heat.locator("tbody tr", has=page.get_by_role("link", name="บ้านฝาง"))
    expect(empty.locator("td.sum")).to_have_text("0")
    # the shades are drawn: the busiest district's total is the darkest cell, an empty one white
    dark = mueang.locator("td.sum").evaluate("e => getComputedStyle(e).backgroundColor")
    light = empty.locator("td.sum").evaluate("e => getComputedStyle(e).backgroundColor")
    assert dark == "rgb(11, 79, 148)" and light == "rgb(255, 255, 255)"
    expect(page.locator("svg.chart rect.reported")).to_have_count(12)
    expect(page.locator("main")).to_contain_text("9 ใน 10 เรื่อง ดำเนินการภายใน")
    assert page.evaluate("document.fonts.check('16px \"Noto Sans Thai\"', 'ก')") is True
    screenshot(page, tmp_path, "console-dashboard.png")

    # a district: its subdistricts
    page.get_by_role("link", name="น้ำพอง", exact=True).click()
    expect(page.get_by_role("table", name="จำนวนเรื่องแยกตามตำบลและขั้นตอน")).to_be_visible()
    expect(page.locator("table.heat tfoot td.sum")).to_have_text("70")
    page.get_by_role("link", name="ดูเรื่องเหล่านี้ในรายการเรื่อง").click()
    expect(page.get_by_role("heading", name="รายการเรื่อง")).to_be_visible()
    assert "stale=1" in page.url and "district=4007" in page.url


def test_screenshots_anyone_opens_the_public_dashboard(app, page, tmp_path):
    a_province(app)
    page.set_viewport_size(DESKTOP)
    page.goto("/public")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "เด็กที่ได้รับแจ้งและได้รับความช่วยเหลือ จังหวัดขอนแก่น")
    districts = page.get_by_role("table", name="แยกตามอำเภอ")
    expect(districts.locator("tbody tr")).to_have_count(26)
    expect(districts.locator("tfoot td.sum")).to_have_text("338")
    expect(districts.locator("tbody tr", has_text="เวียงเก่า").locator("td.sum")).to_have_text(
        "<5")
    expect(page.locator("main")).not_to_contain_text("4007")
    expect(page.locator("#as-of")).to_contain_text("เวลา 00:00 น.")
    assert page.evaluate("document.fonts.check('16px \"Noto Sans Thai\"', 'ก')") is True
    screenshot(page, tmp_path, "public-dashboard.png")
