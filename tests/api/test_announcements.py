"""Announcements through the API, the worker and the emulator: targeting at each area level
and audience, unfollowed users skipped and counted, scope refusal, the approval rule, batches of
at most 500 with their own retry keys, 429 and 5xx injected, the quota refusal and confirm,
cancelling, scheduled ones, bad input, and how it reads on arrival."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import sqlalchemy as sa

from bot.extensions import db
from models import Announcement, CaseGuardian, LineUser, OutboxMessage

from .conftest import CHONNABOT, NAM_PHONG, WANG_CHAI, error_of, now

_serial = itertools.count(1)


def users(app, count: int, role: str = "volunteer", subdistrict: str | None = NAM_PHONG,
          area: str | None = None, followed: bool = True, language: str = "th") -> list[str]:
    """Registered LINE users, inserted in one statement; their LINE user ids."""
    ids = [f"U{next(_serial):08d}{'a' * 24}" for _ in range(count)]
    with app.app_context():
        db.session.execute(sa.insert(LineUser), [
            {"line_user_id": i, "role": role, "language": language, "followed": followed,
             "subdistrict_code": subdistrict, "area_code": area, "code_failures": 0,
             "created_at": now()} for i in ids])
        db.session.commit()
        db.session.remove()
    return ids


def multicast_to(emulator) -> list[list[str]]:
    return [item["to"] for item in emulator.sent(endpoint="multicast")]


def card_text(message: dict) -> str:
    """The officer's text in an announcement's notice card."""
    assert message["type"] == "flex"
    return message["contents"]["body"]["contents"][0]["text"]


def announce(api, **body):
    body = {"text": "อบรม อสม. วันเสาร์นี้ 09:00 น. ที่ รพ.สต.", "audience": ["volunteers"],
            "area": "4007", **body}
    return api.post("/announcements", body)


@pytest.fixture
def district(world):
    return world.api("officer", "LEARN", "4007")


def test_a_district_announcement_reaches_every_active_volunteer_of_the_district_once(
        app, world, district, worker, emulator):
    nam_phong = users(app, 3)
    wang_chai = users(app, 2, subdistrict=WANG_CHAI)
    blocked = users(app, 1, followed=False)
    elsewhere = users(app, 2, subdistrict=CHONNABOT)
    parents = users(app, 1, role="parent")
    response = announce(district, link="https://kkpao.go.th/training.pdf")
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert (body["status"], body["estimate"], body["awaiting_approval"]) == (
        "scheduled", 5, False)
    worker.burst()
    delivered = [u for batch in multicast_to(emulator) for u in batch]
    assert sorted(delivered) == sorted(nam_phong + wang_chai)
    assert not set(delivered) & set(blocked + elsewhere + parents)
    status = district.get(f"/announcements/{body['id']}").get_json()
    assert (status["status"], status["recipients"], status["sent"], status["failed"],
            status["skipped_blocked"], status["pending"]) == ("sent", 5, 5, 0, 1, 0)
    [item] = emulator.sent(endpoint="multicast")
    [message] = item["messages"]
    assert message["altText"].startswith("📢 ประกาศจาก สกร.")
    assert card_text(message) == "อบรม อสม. วันเสาร์นี้ 09:00 น. ที่ รพ.สต."
    [button] = message["contents"]["footer"]["contents"]
    assert button["action"] == {"type": "uri", "label": "เปิดเอกสารประกอบ",
                                "uri": "https://kkpao.go.th/training.pdf"}


def test_subdistrict_parents_of_young_children_and_officers_are_targeted(app, world, worker,
                                                                        emulator):
    young = world.case(group="early_childhood", subdistrict=NAM_PHONG)
    older = world.case(group="out_of_school", subdistrict=NAM_PHONG)
    other_place = world.case(group="early_childhood", subdistrict=WANG_CHAI)
    [mother, father, older_parent, other_parent] = users(app, 4, role="parent",
                                                         subdistrict=None)
    with app.app_context():
        by_ref = {c.reference: c.id for c in db.session.scalars(sa.select(
            __import__("models").Case))}
        for line_id, ref in ((mother, young), (father, young), (older_parent, older),
                             (other_parent, other_place)):
            user = db.session.scalar(sa.select(LineUser).where(LineUser.line_user_id == line_id))
            db.session.add(CaseGuardian(case_id=by_ref[ref], line_user_id=user.id))
        db.session.commit()
        db.session.remove()
    officers_here = users(app, 2, role="officer", subdistrict=None, area="400701")
    users(app, 1, role="officer", subdistrict=None, area="4018")
    api = world.api("officer", "LOCAL", NAM_PHONG)
    response = announce(api, audience=["parents"], area=NAM_PHONG, group="early_childhood",
                        text="ศูนย์พัฒนาเด็กเล็กเปิดวันจันทร์นี้ค่ะ")
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["estimate"] == 2
    worker.burst()
    assert sorted(u for b in multicast_to(emulator) for u in b) == sorted([mother, father])
    emulator.reset()
    response = announce(api, audience=["officers", "parents"], area=NAM_PHONG)
    assert response.get_json()["estimate"] == 5
    worker.burst()
    assert sorted(u for b in multicast_to(emulator) for u in b) == sorted(
        [mother, father, older_parent, *officers_here])


def test_an_officer_announces_only_inside_their_scope(world, district, app):
    users(app, 2, subdistrict=CHONNABOT)
    users(app, 2)
    assert error_of(announce(district, area="4018"))["code"] == "area_not_found"
    assert announce(district, area="4018").status_code == 404
    assert announce(district, area="40").status_code == 404
    assert announce(district, area="999999").status_code == 404
    assert announce(district, area=NAM_PHONG).status_code == 202


def test_a_province_wide_announcement_waits_for_a_second_persons_approval(
        app, world, worker, emulator, session):
    users(app, 2)
    users(app, 1, subdistrict=CHONNABOT)
    author = world.api("supervisor", "EDU", "40")
    response = announce(author, area="40")
    body = response.get_json()
    assert (response.status_code, body["status"], body["awaiting_approval"]) == (
        202, "awaiting_approval", True)
    worker.burst()
    assert emulator.sent(endpoint="multicast") == []  # nothing before approval
    ident = body["id"]
    assert error_of(author.post(f"/announcements/{ident}/approve"))["code"] == "second_person"
    officer = world.api("officer", "EDU", "40")
    assert officer.post(f"/announcements/{ident}/approve").status_code == 403
    district_supervisor = world.api("supervisor", "LEARN", "4007")
    assert district_supervisor.post(f"/announcements/{ident}/approve").status_code == 404
    approver = world.api("admin", "EDU", "40")
    approved = approver.post(f"/announcements/{ident}/approve")
    assert approved.status_code == 200 and approved.get_json()["approved_by"]
    assert approver.post(f"/announcements/{ident}/approve").status_code == 409
    worker.burst()
    assert len([u for b in multicast_to(emulator) for u in b]) == 3
    actions = session.scalars(sa.select(__import__("models").AuditEntry.action)
                              .where(__import__("models").AuditEntry.action.like(
                                  "announcement.%"))).all()
    assert sorted(actions) == ["announcement.approve", "announcement.create"]


def test_one_thousand_and_one_volunteers_go_in_three_batches_with_their_own_keys(
        app, district, worker, emulator):
    users(app, 1001)
    users(app, 2, language="en")
    assert announce(district).status_code == 202
    worker.burst()
    requests = emulator.requests("multicast")
    batches = multicast_to(emulator)
    assert sorted(len(b) for b in batches) == [1, 2, 500, 500]  # Thai 1,001; English 2
    assert len({r["retry_key"] for r in requests}) == len(requests) == 4
    english = next(item for item in emulator.sent(endpoint="multicast")
                   if len(item["to"]) == 2)
    assert english["messages"][0]["altText"].startswith("Announcement from ")


def test_rate_limits_and_server_errors_are_retried_and_every_volunteer_gets_it_once(
        app, district, worker, emulator, session):
    users(app, 600)
    emulator.fault("multicast", status=429, count=1)
    emulator.fault("multicast", status=500, count=1)
    assert announce(district).status_code == 202
    for _ in range(20):
        worker.burst()
        session.expire_all()
        rows = session.scalars(sa.select(OutboxMessage).where(
            OutboxMessage.announcement_id.is_not(None))).all()
        if rows and all(r.status == "sent" for r in rows):
            break
        session.execute(sa.update(OutboxMessage).values(next_attempt_at=now()))
        session.commit()
    delivered = [u for b in multicast_to(emulator) for u in b]
    assert len(delivered) == 600 == len(set(delivered))


def test_a_batch_refused_with_another_4xx_is_failed_and_reported(app, district, worker,
                                                                   emulator):
    users(app, 3)
    emulator.fault("multicast", status=400, count=1)
    ident = announce(district).get_json()["id"]
    worker.burst()
    body = district.get(f"/announcements/{ident}").get_json()
    assert (body["status"], body["sent"], body["failed"]) == ("failed", 0, 3)


def test_the_quota_refuses_what_it_cannot_carry_and_asks_near_its_end(app, district, emulator,
                                                                      world):
    users(app, 50)
    emulator.quota(type="limited", value=100)
    emulator.http.post(emulator.base + "/api/quota/consumption", json={"totalUsage": 60},
                       timeout=10).raise_for_status()
    assert district.get("/quota").get_json() == {"limit": 100, "used": 60, "reserved": 0,
                                                 "remaining": 40, "known": True}
    refused = announce(district)
    error = error_of(refused)
    assert (refused.status_code, error["code"]) == (409, "quota_exceeded")
    assert error["detail"]["estimate"] == 50 and error["detail"]["quota"]["remaining"] == 40
    emulator.http.post(emulator.base + "/api/quota/consumption", json={"totalUsage": 45},
                       timeout=10).raise_for_status()
    near = announce(district)
    assert error_of(near)["code"] == "quota_confirm"  # 5 of 100 would remain
    thai = world.api("officer", "LEARN", "4007", language="th")
    assert "โควตา LINE" in error_of(announce(thai))["message"]
    confirmed = announce(district, confirm=True)
    assert confirmed.status_code == 202
    assert district.get("/quota").get_json()["reserved"] == 50


def test_cancelling_before_it_goes_and_who_may(app, world, district, worker, emulator):
    users(app, 2)
    later = (now() + dt.timedelta(days=2)).isoformat()
    ident = announce(district, send_at=later).get_json()["id"]
    other = world.api("officer", "LEARN", "4007")
    assert other.post(f"/announcements/{ident}/cancel").status_code == 403
    assert world.api("officer", "LEARN", "4018").get(
        f"/announcements/{ident}").status_code == 404
    cancelled = district.post(f"/announcements/{ident}/cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert district.post(f"/announcements/{ident}/cancel").status_code == 409
    worker.burst()
    assert emulator.sent(endpoint="multicast") == []


def test_a_scheduled_announcement_waits_for_its_time_then_goes_as_a_quiet_batch(
        app, district, worker, emulator, session):
    users(app, 2)
    at = now() + dt.timedelta(hours=3)
    ident = announce(district, send_at=at.isoformat()).get_json()["id"]
    worker.burst()
    assert emulator.sent(endpoint="multicast") == []
    session.execute(sa.update(Announcement).values(send_at=now() - dt.timedelta(seconds=1)))
    session.commit()
    from bot.quiet_hours import QuietHours

    worker.app.config["QUIET_HOURS"] = ""  # this test runs at any hour
    try:
        worker.burst()
    finally:
        worker.app.config["QUIET_HOURS"] = "20:00-07:00"
    assert QuietHours.parse("20:00-07:00") is not None
    batch = session.scalars(sa.select(OutboxMessage)
                            .where(OutboxMessage.announcement_id == ident)).one()
    assert batch.quiet is True
    assert len(emulator.sent(endpoint="multicast")) == 1


@pytest.mark.parametrize("body, status, code", [
    ({"text": ""}, 422, "invalid"),
    ({"text": "ก" * 5001}, 422, "invalid"),
    ({"text": "   "}, 422, "text_required"),
    ({"text": "bad\x00byte"}, 422, "text_invalid"),
    ({"link": "javascript:alert(1)"}, 422, "link_invalid"),
    ({"link": "https://x.y/a b"}, 422, "link_invalid"),
    ({"audience": []}, 422, "invalid"),
    ({"audience": ["everyone"]}, 422, "invalid"),
    ({"send_at": "2026-12-01T08:00:00"}, 422, "invalid"),
    ({"send_at": "2020-01-01T08:00:00+07:00"}, 422, "date_in_past"),
    ({"send_at": "2030-01-01T08:00:00+07:00"}, 422, "date_out_of_range"),
    ({"group": "teenagers"}, 422, "invalid"),
    ({"area": "4018"}, 404, "area_not_found"),
])
def test_bad_announcements_get_a_clear_answer(app, district, body, status, code):
    users(app, 1)
    response = announce(district, **body)
    assert response.status_code == status, response.get_json()
    assert error_of(response)["code"] == code


def test_emoji_and_the_longest_text_go_as_written(app, district, worker, emulator):
    users(app, 1)
    longest = "🎉" + "ข" * 4999
    assert announce(district, text=longest).status_code == 202
    worker.burst()
    [item] = emulator.sent(endpoint="multicast")  # the emulator checked the 30 KB bubble limit
    assert card_text(item["messages"][0]) == longest


def test_nobody_to_send_to_is_said_plainly(district):
    response = announce(district)
    assert (response.status_code, error_of(response)["code"]) == (409, "no_recipients")


def test_the_monthly_limit_pauses_an_announcement_tells_its_author_and_it_resumes(
        app, world, worker, emulator, session):
    with app.app_context():
        author_line = LineUser(line_user_id="U" + "c4" * 16, role="officer", followed=True,
                               agency_code="LEARN", area_code="4007")
        db.session.add(author_line)
        db.session.commit()
        author_id = author_line.id
        db.session.remove()
    api = world.api("officer", "LEARN", "4007")
    with app.app_context():
        from services import accounts

        accounts.find_officer(db.session, api.username).line_user_id = author_id
        db.session.commit()
        db.session.remove()
    volunteers = users(app, 700)
    ident = announce(api).get_json()["id"]
    emulator.quota(type="limited", value=500)  # the month ends after the first batch
    worker.burst()
    body = api.get(f"/announcements/{ident}").get_json()
    assert (body["status"], body["sent"], body["pending"], body["paused_for_quota"]) == (
        "sending", 500, 200, True)
    assert emulator.sent("U" + "c4" * 16) == []  # a push now would wait for the same limit
    emulator.text("U" + "c4" * 16, "ประกาศ")  # a reply is free: the author is told there
    worker.burst()
    told = [m["text"] for item in emulator.sent("U" + "c4" * 16) for m in item["messages"]]
    assert any(f"(ลำดับที่ {ident}) หยุดส่งชั่วคราว" in t for t in told)
    emulator.text("U" + "c4" * 16, "ยกเลิก")
    worker.burst()
    # next month: the limit lifts; the held batch goes at the next quota check
    emulator.quota(type="none")
    session.execute(sa.update(OutboxMessage).values(next_attempt_at=now()))
    session.execute(sa.text("UPDATE service_state SET value = NULL"))
    session.commit()
    worker.burst()
    body = api.get(f"/announcements/{ident}").get_json()
    assert (body["status"], body["sent"], body["pending"]) == ("sent", 700, 0)
    delivered = [u for b in multicast_to(emulator) for u in b]
    assert sorted(delivered) == sorted(volunteers)
