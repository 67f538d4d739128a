"""Announcements in the console: compose → preview (the card as LINE receives it, nothing kept)
→ confirm → delivered by the worker; the province-wide approval by a second person; cancel;
this month's budget shown, the budget refusal and the near-the-limit confirmation; scope and
bad input answered in words with what was typed kept."""

from __future__ import annotations

import datetime as dt
import html
import re

import sqlalchemy as sa

from models import Announcement, AuditEntry
from tests import factories as f
from tests.api.test_announcements import card_text, multicast_to, users

from .conftest import Console

TEXT = "อบรม อสม. วันเสาร์นี้ 09:00 น. ที่ รพ.สต. 🙏"


def form(**changes) -> dict:
    return {"text": TEXT, "audience": ["volunteers"], "area": "4007", "group": "",
            "link": "", "day": "", "time": "", **changes}


def page_text(response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def count(session, *where) -> int:
    session.commit()
    return session.scalar(sa.select(sa.func.count()).select_from(Announcement).where(*where))


def audit_count(session) -> int:
    session.commit()
    return session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "announcement.create"))


def test_preview_shows_the_card_and_keeps_nothing_then_confirming_sends_it_once(
        app, console, session, worker, emulator):
    ids = users(app, 3)
    before = count(session)
    audits = audit_count(session)
    preview = console.post("/console/announcements",
                           form(link="https://kkpao.go.th/training.pdf"))
    assert preview.status_code == 200
    shown = page_text(preview)
    assert TEXT in shown and "ประกาศจาก สกร." in shown  # the card: who it is from, the text
    assert "https://kkpao.go.th/training.pdf" in preview.get_data(as_text=True)
    assert re.search(r"\b3\b", shown)  # about three people
    assert count(session) == before  # a preview keeps nothing
    assert audit_count(session) == audits

    sent = console.post("/console/announcements",
                        form(link="https://kkpao.go.th/training.pdf", confirm="1"))
    assert sent.status_code == 302
    assert count(session) == before + 1
    row = session.scalars(sa.select(Announcement).order_by(Announcement.id.desc())).first()
    assert sent.headers["Location"].endswith(f"/console/announcements/{row.id}")
    assert (row.status, row.created_by, row.estimate) == (
        "scheduled", "learn.np", 3)
    worker.burst()
    delivered = [u for batch in multicast_to(emulator) for u in batch]
    assert sorted(delivered) == sorted(ids)
    [item] = emulator.sent(endpoint="multicast")
    assert card_text(item["messages"][0]) == TEXT
    detail = page_text(console.get(f"/console/announcements/{row.id}"))
    assert "ส่งแล้ว" in detail and TEXT in detail


def test_the_list_shows_the_budget_and_recent_announcements(app, console, emulator):
    users(app, 2)
    emulator.quota(type="limited", value=1000)
    emulator.http.post(emulator.base + "/api/quota/consumption", json={"totalUsage": 250},
                       timeout=10).raise_for_status()
    assert console.post("/console/announcements", form(confirm="1")).status_code == 302
    page = console.get("/console/announcements")
    assert page.status_code == 200
    shown = page_text(page)
    # used 250 of 1,000; 2 set aside for the announcement not yet sent; 748 left
    assert "250" in shown and "1,000" in shown and "748" in shown
    assert TEXT[:20] in shown


def test_over_the_budget_is_refused_and_near_it_asks_to_confirm(app, console, session,
                                                                emulator):
    users(app, 50)
    emulator.quota(type="limited", value=100)
    emulator.http.post(emulator.base + "/api/quota/consumption", json={"totalUsage": 60},
                       timeout=10).raise_for_status()
    before = count(session)
    refused = console.post("/console/announcements", form())
    assert refused.status_code == 409
    assert "ไม่พอ" in page_text(refused) or "เหลือ" in page_text(refused)
    assert TEXT in refused.get_data(as_text=True)  # what was typed is kept
    emulator.http.post(emulator.base + "/api/quota/consumption", json={"totalUsage": 45},
                       timeout=10).raise_for_status()
    near = console.post("/console/announcements", form())
    assert near.status_code == 200
    assert 'name="confirm_quota"' in near.get_data(as_text=True)
    # confirmed without ticking the box: asked again, nothing kept
    again = console.post("/console/announcements", form(confirm="1"))
    assert again.status_code == 409 and count(session) == before
    done = console.post("/console/announcements", form(confirm="1", confirm_quota="1"))
    assert done.status_code == 302 and count(session) == before + 1


def test_a_province_wide_announcement_waits_for_a_second_person(app, client, session, worker,
                                                                 emulator):
    author = f.officer(session, role="supervisor", agency="EDU", area="40",
                       username="edu.author")
    second = f.officer(session, role="supervisor", agency="EDU", area="40",
                       username="edu.second")
    ids = users(app, 2)
    writer = Console(client, author)
    preview = writer.post("/console/announcements", form(area="40"))
    assert "หัวหน้า" in page_text(preview) or "อนุมัติ" in page_text(preview)
    assert writer.post("/console/announcements", form(area="40", confirm="1")).status_code == 302
    row = session.scalars(sa.select(Announcement).order_by(Announcement.id.desc())).first()
    assert row.status == "awaiting_approval"
    # the author cannot approve their own: no button, and a forced post is refused in words
    own = writer.get(f"/console/announcements/{row.id}").get_data(as_text=True)
    assert f"/console/announcements/{row.id}/approve" not in own
    forced = writer.post(f"/console/announcements/{row.id}/approve", {"confirm": "1"},
                         follow_redirects=True)
    assert "คนที่สอง" in page_text(forced) or "อีกคน" in page_text(forced)
    session.commit()
    assert session.get(Announcement, row.id).status == "awaiting_approval"
    writer.post("/console/logout", {})

    approver = Console(client, second)
    asked = approver.post(f"/console/announcements/{row.id}/approve", {})
    assert asked.status_code == 302 and "ask=approve" in asked.headers["Location"]
    session.commit()
    assert session.get(Announcement, row.id).status == "awaiting_approval"  # asked first
    confirm_page = approver.get(asked.headers["Location"]).get_data(as_text=True)
    assert 'name="confirm" value="1"' in confirm_page
    done = approver.post(f"/console/announcements/{row.id}/approve", {"confirm": "1"})
    assert done.status_code == 302
    session.expire_all()
    approved = session.get(Announcement, row.id)
    assert (approved.status, approved.approved_by) == ("scheduled", "edu.second")
    worker.burst()
    assert sorted(u for batch in multicast_to(emulator) for u in batch) == sorted(ids)


def test_cancel_before_it_goes(app, console, session, worker, emulator):
    users(app, 2)
    today = dt.date.today()
    too_far = (today + dt.timedelta(days=200)).isoformat()
    assert console.post("/console/announcements", form(
        confirm="1", day=too_far, time="09:00")).status_code == 422  # 90 days at most
    soon = today + dt.timedelta(days=3)
    typed = f"{soon.day}/{soon.month}/{soon.year + 543}"  # as people type it: Buddhist era
    response = console.post("/console/announcements", form(confirm="1", day=typed,
                                                           time="09:00"))
    assert response.status_code == 302
    row = session.scalars(sa.select(Announcement).order_by(Announcement.id.desc())).first()
    assert console.post(f"/console/announcements/{row.id}/cancel",
                        {"confirm": "1"}).status_code == 302
    session.expire_all()
    assert session.get(Announcement, row.id).status == "cancelled"
    worker.burst()
    assert multicast_to(emulator) == []


def test_bad_input_is_answered_in_words_with_the_text_kept(app, console, session):
    users(app, 1)
    before = count(session)
    cases = [
        (form(text="   "), 422),
        (form(text="ก" * 5001), 422),
        (form(audience=[]), 422),
        (form(audience=["everyone"]), 422),
        (form(link="javascript:alert(1)"), 422),
        (form(area="4001"), 404),  # อำเภอเมือง: outside the officer's district
        (form(area="9999"), 404),
        (form(day="31/2/2569"), 422),
        (form(day="1/1/2570", time="25:00"), 422),
        (form(area="400701", audience=["parents"]), 409),  # no parents there yet
    ]
    for data, status in cases:
        response = console.post("/console/announcements", data)
        assert response.status_code == status, (data, response.status_code)
        assert 'class="error"' in response.get_data(as_text=True), data
    assert count(session) == before


def test_another_district_does_not_see_it_and_without_csrf_nothing_is_made(
        app, client, console, session):
    users(app, 1)
    assert console.post("/console/announcements", form(confirm="1")).status_code == 302
    row = session.scalars(sa.select(Announcement).order_by(Announcement.id.desc())).first()
    console.post("/console/logout", {})
    other = Console(client, f.officer(session, agency="LEARN", area="4001",
                                      username="learn.muang"))
    assert other.get(f"/console/announcements/{row.id}").status_code == 404
    assert other.post(f"/console/announcements/{row.id}/cancel",
                      {"confirm": "1"}).status_code == 404
    assert TEXT not in other.get("/console/announcements").get_data(as_text=True)
    before = count(session)
    forged = client.post("/console/announcements", data=form(confirm="1"))
    assert forged.status_code == 400 and count(session) == before


def test_a_failed_announcement_reads_as_such(app, console, session, worker, emulator):
    users(app, 2)
    emulator.fault("multicast", status=400, count=1)
    assert console.post("/console/announcements", form(confirm="1")).status_code == 302
    worker.burst()
    row = session.scalars(sa.select(Announcement).order_by(Announcement.id.desc())).first()
    session.refresh(row)
    assert row.status == "failed"
    detail = page_text(console.get(f"/console/announcements/{row.id}"))
    assert "ส่งไม่ถึง" in detail and "failed" not in detail
    listing = page_text(console.get("/console/announcements"))
    assert "ส่งไม่ถึง" in listing and "failed" not in listing


def test_approving_a_scheduled_one_says_when_it_goes(app, client, session):
    author = f.officer(session, role="supervisor", agency="EDU", area="40", username="edu.a")
    second = f.officer(session, role="supervisor", agency="EDU", area="40", username="edu.b")
    users(app, 2)
    soon = dt.date.today() + dt.timedelta(days=3)
    writer = Console(client, author)
    assert writer.post("/console/announcements", form(
        area="40", confirm="1", day=soon.isoformat(), time="09:00")).status_code == 302
    row = session.scalars(sa.select(Announcement).order_by(Announcement.id.desc())).first()
    writer.post("/console/logout", {})
    approver = Console(client, second)
    done = approver.post(f"/console/announcements/{row.id}/approve", {"confirm": "1"},
                         follow_redirects=True)
    shown = page_text(done)
    assert "อนุมัติแล้วค่ะ ประกาศจะส่งวันที่" in shown and "09:00" in shown
    assert "กำลังส่งประกาศ" not in shown


def test_when_line_cannot_say_what_is_left_the_preview_asks_to_confirm(app, console, session,
                                                                     emulator):
    users(app, 2)
    before = count(session)
    emulator.fault("quota", status=500, count=1)
    page = console.get("/console/announcements")
    assert "ถาม LINE ไม่ได้" in page_text(page)  # the budget card says so, and what follows
    emulator.fault("quota", status=500, count=1)
    preview = console.post("/console/announcements", form())
    assert preview.status_code == 200
    assert "ถาม LINE ไม่ได้" in page_text(preview)
    assert 'name="confirm_quota"' in preview.get_data(as_text=True)
    emulator.fault("quota", status=500, count=1)
    unticked = console.post("/console/announcements", form(confirm="1"))
    assert unticked.status_code == 409 and count(session) == before
    emulator.fault("quota", status=500, count=1)
    done = console.post("/console/announcements", form(confirm="1", confirm_quota="1"))
    assert done.status_code == 302 and count(session) == before + 1


def test_an_announcement_paused_by_the_monthly_limit_is_shown_on_every_page(
        app, console, session, worker, emulator):
    users(app, 600)
    assert console.post("/console/announcements", form(confirm="1")).status_code == 302
    row = session.scalars(sa.select(Announcement).order_by(Announcement.id.desc())).first()
    worker.announce_every = 0.0
    worker.release_announcements()
    emulator.quota(type="limited", value=500)  # the month's limit is reached after a batch
    worker.burst()
    for path in ("/console/cases", "/console/announcements",
                 f"/console/announcements/{row.id}"):
        shown = page_text(console.get(path))
        assert "โควตาข้อความ LINE ของเดือนนี้หมดแล้ว" in shown, path
        assert f"ประกาศลำดับที่ {row.id}" in shown, path
    # another district's officer, who did not write it, sees no banner
    other = f.officer(session, agency="LEARN", area="4001", username="learn.other")
    console.post("/console/logout", {})
    elsewhere = Console(console.client, other)
    assert "โควตาข้อความ LINE ของเดือนนี้หมดแล้ว" not in page_text(
        elsewhere.get("/console/cases"))
