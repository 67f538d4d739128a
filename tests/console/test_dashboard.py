"""The supervisors' dashboard page (/console/dashboard): who may open it (an officer gets a page
saying so), the heat-map with its numbers and shades, the counts, the months and the time to
a first action as the page prints them, a district of the area, the links to the queue, the
audit row of each view, and no script or inline style (the CSP); the figures read from the
stored snapshot, renewed by `flask dashboard refresh` or by the page when too old, and a
district supervisor given its own district's whatever it asks for."""

from __future__ import annotations

import datetime as dt
import json
import re

import sqlalchemy as sa

from models import BANGKOK, AuditEntry, DashboardSnapshot
from tests import factories as f
from tests.console.conftest import Console
from tests.factories import CHONNABOT, NAM_PHONG, WANG_CHAI
from tests.services.test_dashboard import make_case

DAY = dt.timedelta(days=1)


def cases(session) -> None:
    """Five cases in อำเภอน้ำพอง (two overdue, one stale), one in ชนบท."""
    now = dt.datetime.now(dt.UTC)
    make_case(session, created=now - 2 * DAY, due=now - DAY)
    make_case(session, group="early_childhood", agency="LOCAL", stage="verifying",
              created=now - 40 * DAY, first_action=DAY, updated=now - 35 * DAY)
    make_case(session, subdistrict=WANG_CHAI, stage="in_support", created=now - 30 * DAY,
              first_action=3 * DAY, due=now - 2 * DAY, escalation=1, updated=now - DAY)
    make_case(session, subdistrict=WANG_CHAI, stage="in_support", created=now - 10 * DAY,
              first_action=5 * DAY, updated=now - DAY)
    make_case(session, stage="closed", created=now - 20 * DAY, first_action=DAY,
              closed=now - DAY, updated=now - DAY, name="ลับเฉพาะ ใจดี")
    make_case(session, subdistrict=CHONNABOT, stage="referred", created=now - 3 * DAY)
    session.commit()


def cell_texts(page: str, row_name: str) -> list[tuple[str, str]]:
    """(shade class, number) of each cell of the heat-map row that starts with this name."""
    row = re.search(r"<tr>\s*<th scope=\"row\">\s*<a [^>]*>" + re.escape(row_name)
                    + r"</a>\s*</th>(.*?)</tr>", page, re.S)
    assert row, f"no heat-map row {row_name}"
    return re.findall(r'<td class="([hw]\d)(?: sum)?">(\d+)</td>', row.group(1))


def test_an_officer_is_told_the_dashboard_is_for_supervisors(console, session):
    cases(session)
    response = console.get("/console/dashboard")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "สำหรับผู้บังคับบัญชาเท่านั้น" in page and "รายการเรื่อง" in page
    assert "heat" not in page
    assert 'href="/console/dashboard"' not in console.get("/console/cases").get_data(
        as_text=True)  # no menu link either


def test_signed_out_goes_to_the_login_page(client):
    response = client.get("/console/dashboard")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_a_district_supervisor_sees_the_heat_map_of_its_subdistricts(app, client, session):
    cases(session)
    boss = f.officer(session, role="supervisor", agency="EDU", area="4007", username="boss.np")
    desk = Console(client, boss)
    response = desk.get("/console/dashboard")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'href="/console/dashboard"' in page  # the menu
    assert "จำนวนเรื่องแยกตามตำบลและขั้นตอน" in page
    # ตำบลน้ำพอง: received 1, verifying 1, closed 1; total 3, overdue 1, stale 1
    assert cell_texts(page, "น้ำพอง") == [
        ("h3", "1"), ("h3", "1"), ("h0", "0"), ("h0", "0"), ("h0", "0"), ("h3", "1"),
        ("h5", "3"), ("w5", "1"), ("w5", "1")]
    # ตำบลวังชัย: in support 2 (the largest stage cell); total 2, overdue 1, stale 0
    assert cell_texts(page, "วังชัย") == [
        ("h0", "0"), ("h0", "0"), ("h0", "0"), ("h5", "2"), ("h0", "0"), ("h0", "0"),
        ("h4", "2"), ("w5", "1"), ("w0", "0")]
    assert "ชนบท" not in page  # another district: not in this supervisor's area
    # the tiles and the cards
    assert re.search(r"เรื่องทั้งหมด</span><b>5</b>", page)
    assert re.search(r"เลยกำหนด</span><b>2</b>", page)
    assert 'href="/console/cases?stale=1"' in page and 'href="/console/cases?overdue=1"' in page
    assert 'href="/console/cases?escalated=district"' in page
    # time to the first action: 1, 3, 5 and 1 days -> half within 2.0, 9 in 10 within 4.4
    assert re.search(r"ครึ่งหนึ่งของเรื่อง ดำเนินการภายใน</dt><dd><b>2\.0</b>", page)
    assert re.search(r"9 ใน 10 เรื่อง ดำเนินการภายใน</dt><dd><b>4\.4</b>", page)
    # the months: this month's reports are in the table under the chart, in Thai
    assert "<svg class=\"chart\"" in page and "แจ้งใหม่" in page
    # nothing personal, no script, no inline style
    assert "ลับเฉพาะ" not in page and "KK-" not in page
    assert "style=" not in page and "<script>" not in page
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    rows = session.execute(sa.select(AuditEntry.actor, AuditEntry.detail)
                           .where(AuditEntry.action == "dashboard.view")).all()
    assert [(who, detail["area"], detail["via"]) for who, detail in rows] == [
        ("boss.np", "4007", "console")]


def test_a_province_supervisor_sees_districts_and_opens_one(app, client, session):
    cases(session)
    boss = f.officer(session, role="admin", agency="EDU", area="40", username="boss.kk")
    desk = Console(client, boss)
    page = desk.get("/console/dashboard").get_data(as_text=True)
    assert "จำนวนเรื่องแยกตามอำเภอและขั้นตอน" in page
    assert len(re.findall(r'href="/console/dashboard\?district=40\d\d"', page)) == 26
    nam_phong = cell_texts(page, "น้ำพอง")
    assert [n for _shade, n in nam_phong] == ["1", "1", "0", "2", "0", "1", "5", "2", "1"]
    assert [n for _shade, n in cell_texts(page, "ชนบท")] == [
        "0", "0", "1", "0", "0", "0", "1", "0", "0"]
    assert [n for _shade, n in cell_texts(page, "เมืองขอนแก่น")] == ["0"] * 9

    one = desk.get("/console/dashboard?district=4007").get_data(as_text=True)
    assert "จำนวนเรื่องแยกตามตำบลและขั้นตอน" in one and "กลับไปดูทั้งพื้นที่" in one
    assert 'href="/console/cases?stale=1&amp;district=4007"' in one or \
        'href="/console/cases?district=4007&amp;stale=1"' in one
    assert [n for _s, n in cell_texts(one, "น้ำพอง")][-3:] == ["3", "1", "1"]
    details = [d["area"] for d in session.scalars(
        sa.select(AuditEntry.detail).where(AuditEntry.action == "dashboard.view")
        .order_by(AuditEntry.id))]
    assert details == ["40", "4007"]


def test_the_dashboard_in_english(app, client, session):
    cases(session)
    boss = f.officer(session, role="supervisor", agency="EDU", area="4007")
    desk = Console(client, boss)
    desk.post("/console/language", {"lang": "en", "next": "/console/dashboard"})
    page = desk.get("/console/dashboard").get_data(as_text=True)
    assert "Cases by subdistrict and stage" in page and "Nam Phong" in page
    assert "Half of the cases within" in page
    assert NAM_PHONG not in page.replace(f"subdistrict={NAM_PHONG}", "")


def test_the_page_reads_the_stored_figures_and_renews_old_ones(app, client, session):
    cases(session)
    boss = f.officer(session, role="supervisor", agency="EDU", area="4007")
    desk = Console(client, boss)
    first = desk.get("/console/dashboard").get_data(as_text=True)  # none stored: computed
    assert re.search(r"เรื่องทั้งหมด</span><b>5</b>", first)
    assert session.scalar(sa.select(sa.func.count()).select_from(DashboardSnapshot)) == 1
    make_case(session, created=dt.datetime.now(dt.UTC) - DAY)
    session.commit()
    again = desk.get("/console/dashboard").get_data(as_text=True)
    assert re.search(r"เรื่องทั้งหมด</span><b>5</b>", again)  # the stored figures
    other = desk.get("/console/dashboard?district=4007").get_data(as_text=True)
    assert re.search(r"เรื่องทั้งหมด</span><b>5</b>", other)  # the same area
    # `flask dashboard refresh` (the worker does it every few minutes) renews them
    result = app.test_cli_runner().invoke(args=["dashboard", "refresh", "--area", "4007"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[-1])["refreshed"] == ["4007"]
    renewed = desk.get("/console/dashboard").get_data(as_text=True)
    assert re.search(r"เรื่องทั้งหมด</span><b>6</b>", renewed)
    # figures older than DASHBOARD_MAX_AGE_SECONDS are computed again by the page
    make_case(session, created=dt.datetime.now(dt.UTC) - DAY)
    session.execute(sa.update(DashboardSnapshot).values(
        computed_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)))
    session.commit()
    fresh = desk.get("/console/dashboard").get_data(as_text=True)
    assert re.search(r"เรื่องทั้งหมด</span><b>7</b>", fresh)
    stored = session.scalar(sa.select(DashboardSnapshot))
    assert dt.datetime.now(dt.UTC) - stored.computed_at < dt.timedelta(minutes=1)
    views = session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                           .where(AuditEntry.action == "dashboard.view"))
    assert views == 5


def test_the_page_says_as_of_when_and_how_often_they_are_renewed(app, client, session):
    cases(session)
    boss = f.officer(session, role="supervisor", agency="EDU", area="4007")
    desk = Console(client, boss)
    app.test_cli_runner().invoke(args=["dashboard", "refresh"])
    stored = session.scalar(sa.select(DashboardSnapshot.computed_at)
                            .where(DashboardSnapshot.area_code == "4007"))
    at = stored.astimezone(BANGKOK).strftime("%H:%M")
    kept = app.config["DASHBOARD_REFRESH_SECONDS"]
    app.config["DASHBOARD_REFRESH_SECONDS"] = 300
    try:
        page = desk.get("/console/dashboard").get_data(as_text=True)
    finally:
        app.config["DASHBOARD_REFRESH_SECONDS"] = kept
    assert re.search(r"ข้อมูล ณ [^<]*" + at + r"[^<]*ปรับให้เป็นปัจจุบันทุก 5 นาที", page)


def test_a_district_supervisor_gets_its_own_district_s_stored_figures(app, client, session):
    cases(session)
    app.test_cli_runner().invoke(args=["dashboard", "refresh"])
    codes = set(session.scalars(sa.select(DashboardSnapshot.area_code)))
    assert {"40", "4007", "4018"} <= codes
    boss = f.officer(session, role="supervisor", agency="EDU", area="4018", username="boss.cb")
    desk = Console(client, boss)
    for path in ("/console/dashboard", "/console/dashboard?district=4007",
                 "/console/dashboard?district=40"):
        page = desk.get(path).get_data(as_text=True)
        assert re.search(r"เรื่องทั้งหมด</span><b>1</b>", page), path  # ชนบท's one case
        assert "น้ำพอง" not in page and "วังชัย" not in page
    province = Console(app.test_client(), f.officer(session, role="supervisor", agency="EDU",
                                                    area="40", username="boss.kk2"))
    assert re.search(r"เรื่องทั้งหมด</span><b>6</b>",
                     province.get("/console/dashboard").get_data(as_text=True))
    assert re.search(r"เรื่องทั้งหมด</span><b>5</b>", province.get(
        "/console/dashboard?district=4007").get_data(as_text=True))
