"""Announcements through the API, the worker and the emulator: targeting at each area level
and audience (officers through their active accounts and current scope), unfollowed users
skipped and counted (at release and by the time their batch goes), scope refusal, the approval
rule, batches of at most 500 with their own retry keys, 429 and 5xx injected, the quota
refusal and confirm (LINE unreadable, a later month, batches still sending, checked again at
send time), cancelling (final, even for a batch in flight), scheduled ones, the monthly limit's
pause told once, bad input, and how it reads on arrival."""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest
import sqlalchemy as sa

from bot.extensions import db
from bot.worker import Worker
from models import Announcement, AuditEntry, Case, CaseGuardian, LineUser, OutboxMessage
from services import accounts
from services import announcements as service
from tests.support import wait_until

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


def officer_on_line(app, area: str, agency: str = "LEARN", role: str = "officer",
                    active: bool = True) -> tuple[str, str]:
    """An officer account linked to a LINE user (as an officer invitation makes it); the LINE
    user id and the username."""
    n = next(_serial)
    line_id = f"U{n:08d}{'f' * 24}"
    with app.app_context():
        user = LineUser(line_user_id=line_id, role="officer", followed=True,
                        agency_code=agency, area_code=area, code_failures=0)
        db.session.add(user)
        db.session.flush()
        account = accounts.create_officer(db.session, f"line-officer{n}", None, role, agency,
                                          area)
        account.line_user_id, account.active = user.id, active
        username = account.username
        db.session.commit()
        db.session.remove()
    return line_id, username


def link_line(app, username: str) -> str:
    """Link an API officer's account to a new LINE user; its LINE user id."""
    n = next(_serial)
    line_id = f"U{n:08d}{'e' * 24}"
    with app.app_context():
        account = accounts.find_officer(db.session, username)
        user = LineUser(line_user_id=line_id, role="officer", followed=True,
                        agency_code=account.agency_code, area_code=account.area_code,
                        code_failures=0)
        db.session.add(user)
        db.session.flush()
        account.line_user_id = user.id
        db.session.commit()
        db.session.remove()
    return line_id


def release(worker) -> int:
    """Queue the due announcements' batches (the budget checked again), sending nothing."""
    worker.announce_every = 0.0  # and the worker's next round looks again
    return worker.release_announcements()


def adds_up(body: dict) -> bool:
    """recipients = sent + failed + skipped_blocked + cancelled + pending"""
    return body["recipients"] == (body["sent"] + body["failed"] + body["skipped_blocked"]
                                  + body["cancelled"] + body["pending"])


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
            status["skipped_blocked"], status["cancelled"], status["pending"]) == (
        "sent", 6, 5, 0, 1, 0, 0)
    assert adds_up(status)
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
        by_ref = {c.reference: c.id for c in db.session.scalars(sa.select(Case))}
        for line_id, ref in ((mother, young), (father, young), (older_parent, older),
                             (other_parent, other_place)):
            user = db.session.scalar(sa.select(LineUser).where(LineUser.line_user_id == line_id))
            db.session.add(CaseGuardian(case_id=by_ref[ref], line_user_id=user.id))
        db.session.commit()
        db.session.remove()
    officers_here = [officer_on_line(app, NAM_PHONG, "LOCAL")[0],
                     officer_on_line(app, NAM_PHONG, "PHC")[0]]
    officer_on_line(app, "4018")
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


@pytest.fixture
def province(app, world):
    """Volunteers, parents (of an open case) and officers (linked on LINE) in ตำบลน้ำพอง and
    ตำบลวังชัย of อำเภอน้ำพอง and in ตำบลชนบท of another district; officers of the province and
    of each district too."""
    people = {}
    for place in (NAM_PHONG, WANG_CHAI, CHONNABOT):
        [volunteer] = users(app, 1, subdistrict=place)
        [parent] = users(app, 1, role="parent", subdistrict=None)
        with app.app_context():
            ids = dict(db.session.execute(sa.select(LineUser.line_user_id, LineUser.id).where(
                LineUser.line_user_id.in_([volunteer, parent]))).all())
            db.session.remove()
        reference = world.case(subdistrict=place, reporter=ids[volunteer])  # they reported it
        with app.app_context():
            case = db.session.scalar(sa.select(Case).where(Case.reference == reference))
            db.session.add(CaseGuardian(case_id=case.id, line_user_id=ids[parent]))
            db.session.commit()
            db.session.remove()
        people[("volunteers", place)], people[("parents", place)] = volunteer, parent
    for scope in ("40", "4007", NAM_PHONG, "4018"):
        people[("officers", scope)] = officer_on_line(app, scope)[0]
    return people


#: who an announcement to an area reaches: volunteers and parents living in it, officers
#: whose scope lies in it
REACHES = {
    ("volunteers", "40"): [("volunteers", NAM_PHONG), ("volunteers", WANG_CHAI),
                           ("volunteers", CHONNABOT)],
    ("volunteers", "4007"): [("volunteers", NAM_PHONG), ("volunteers", WANG_CHAI)],
    ("volunteers", NAM_PHONG): [("volunteers", NAM_PHONG)],
    ("parents", "40"): [("parents", NAM_PHONG), ("parents", WANG_CHAI), ("parents", CHONNABOT)],
    ("parents", "4007"): [("parents", NAM_PHONG), ("parents", WANG_CHAI)],
    ("parents", NAM_PHONG): [("parents", NAM_PHONG)],
    ("officers", "40"): [("officers", "40"), ("officers", "4007"), ("officers", NAM_PHONG),
                         ("officers", "4018")],
    ("officers", "4007"): [("officers", "4007"), ("officers", NAM_PHONG)],
    ("officers", NAM_PHONG): [("officers", NAM_PHONG)],
}


@pytest.mark.parametrize("audience, area", list(REACHES))
def test_targeting_at_each_area_level_and_audience(app, world, worker, emulator, province,
                                                   audience, area):
    author = world.api("supervisor" if area == "40" else "officer", "EDU", area)
    response = announce(author, audience=[audience], area=area)
    assert response.status_code == 202, response.get_json()
    ident = response.get_json()["id"]
    if area == "40":  # a second person lets a province-wide one go
        assert world.api("admin", "EDU", "40").post(
            f"/announcements/{ident}/approve").status_code == 200
    worker.burst()
    expected = sorted(province[key] for key in REACHES[(audience, area)])
    assert sorted(u for batch in multicast_to(emulator) for u in batch) == expected
    body = author.get(f"/announcements/{ident}").get_json()
    assert (body["estimate"], body["recipients"], body["sent"]) == (
        len(expected), len(expected), len(expected))


def test_officers_are_reached_through_their_active_account_and_current_scope(
        app, district, worker, emulator, session):
    here, _ = officer_on_line(app, "4007")
    gone, gone_name = officer_on_line(app, "4007")
    moved, moved_name = officer_on_line(app, NAM_PHONG)
    arrived, arrived_name = officer_on_line(app, "4018")
    with app.app_context():
        accounts.set_active(accounts.find_officer(db.session, gone_name), False)
        accounts.change_scope(db.session, accounts.find_officer(db.session, moved_name),
                              "officer", "LEARN", "4001")  # moved to อำเภอเมือง
        accounts.change_scope(db.session, accounts.find_officer(db.session, arrived_name),
                              "officer", "LEARN", WANG_CHAI)  # moved into น้ำพอง
        db.session.commit()
        db.session.remove()
    # their LINE users still say where they registered: it is not what counts
    assert session.scalar(sa.select(LineUser.area_code).where(
        LineUser.line_user_id == moved)) == NAM_PHONG
    response = announce(district, audience=["officers"])
    assert response.get_json()["estimate"] == 2
    worker.burst()
    assert sorted(u for b in multicast_to(emulator) for u in b) == sorted([here, arrived])
    # and ข่าวสาร shows it to the same officers only
    for line_id in (here, arrived, gone, moved):
        emulator.text(line_id, "ข่าวสาร")
    worker.burst()
    for line_id, shown in ((here, True), (arrived, True), (gone, False), (moved, False)):
        said = " ".join(m.get("text", "") for item in emulator.sent(line_id)
                        for m in item["messages"])
        assert ("อบรม อสม. วันเสาร์นี้" in said) is shown, (line_id, said)


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
    actions = session.scalars(sa.select(AuditEntry.action)
                              .where(AuditEntry.action.like("announcement.%"))).all()
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
    this_month = service.month_start(now()).astimezone(service.BANGKOK).strftime("%Y-%m")
    assert district.get("/quota").get_json() == {
        "limit": 100, "used": 60, "reserved": 0, "sending": 0, "remaining": 40, "known": True,
        "month": this_month, "ahead": False}
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


def test_the_monthly_limit_pauses_an_announcement_its_author_and_approver_are_told_once(
        app, world, worker, emulator, session):
    author = world.api("supervisor", "EDU", "40")
    approver = world.api("admin", "EDU", "40")
    author_line, approver_line = link_line(app, author.username), link_line(app, approver.username)
    volunteers = users(app, 700)
    ident = announce(author, area="40").get_json()["id"]
    assert approver.post(f"/announcements/{ident}/approve").status_code == 200
    assert release(worker) == 1  # queued while the budget allowed it
    emulator.quota(type="limited", value=500)  # the month ends after the first batch
    worker.burst()
    body = author.get(f"/announcements/{ident}").get_json()
    assert (body["status"], body["sent"], body["pending"], body["paused_for_quota"]) == (
        "sending", 500, 200, True)
    assert body["paused_since"] and adds_up(body)
    assert emulator.sent(author_line) == []  # a push now would wait for the same limit
    for line_id in (author_line, approver_line):
        # whatever they write next, the (free) reply tells them first, once
        emulator.text(line_id, "เมนู")
        worker.burst()
        [reply] = emulator.sent(line_id)
        first = reply["messages"][0]["text"]
        assert f"ประกาศลำดับที่ {ident} หยุดส่งชั่วคราว" in first and "500 จาก 700 คน" in first
        assert len(reply["messages"]) > 1  # and the menu they asked for, after it
        emulator.text(line_id, "เมนู")
        worker.burst()
        again = emulator.sent(line_id)[-1]["messages"]
        assert not any("หยุดส่งชั่วคราว" in m.get("text", "") for m in again)
    # asked for announcements on LINE, the author hears it again (it is what they asked)
    emulator.text(author_line, "ประกาศ")
    worker.burst()
    told = [m.get("text", "") for m in emulator.sent(author_line)[-1]["messages"]]
    assert any(f"ประกาศลำดับที่ {ident} หยุดส่งชั่วคราว" in t for t in told)
    emulator.text(author_line, "ยกเลิก")
    worker.burst()
    # next month: the limit lifts; the held batch goes at the next quota check
    emulator.quota(type="none")
    session.execute(sa.update(OutboxMessage).values(next_attempt_at=now()))
    session.execute(sa.text("UPDATE service_state SET value = NULL"))
    session.commit()
    worker.burst()
    body = author.get(f"/announcements/{ident}").get_json()
    assert (body["status"], body["sent"], body["pending"], body["paused_since"]) == (
        "sent", 700, 0, None)
    delivered = [u for b in multicast_to(emulator) for u in b]
    assert sorted(delivered) == sorted(volunteers)


# -- cancelling is final -------------------------------------------------------------------

def in_flight(emulator) -> bool:
    """The multicast fault set by the test has been taken: its call is being answered."""
    faults = emulator.http.get(emulator.base + "/api/faults", timeout=10).json()["items"]
    return any(f["endpoint"] == "multicast" and f["remaining"] == 0 for f in faults)


def sender_thread(app) -> threading.Thread:
    """Another sender (as another worker process would be), draining the outbox once."""
    def run():
        with app.app_context():
            Worker(app, app.extensions["samoe.dispatcher"], name="other-sender").burst()
            db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_batch_in_flight_when_cancelled_that_then_fails_is_never_sent(
        app, district, worker, emulator, session):
    users(app, 1100)  # batches of 500, 500 and 100
    ident = announce(district).get_json()["id"]
    backoff = worker.app.config.get("SENDER_BACKOFF_BASE", 1.0)
    worker.app.config["SENDER_BACKOFF_BASE"] = 0.0  # its retry is due at once
    emulator.fault("multicast", status=503, count=1, delay=1.5)  # LINE answers 503, slowly
    try:
        sender = sender_thread(app)
        wait_until(lambda: in_flight(emulator), timeout=30)
        cancelled = district.post(f"/announcements/{ident}/cancel")
        assert cancelled.status_code == 200
        sender.join(timeout=60)
        session.execute(sa.update(OutboxMessage).values(next_attempt_at=now()))
        session.commit()
        worker.burst()  # the batch that got the 503 is due again: it is skipped, not sent
    finally:
        worker.app.config["SENDER_BACKOFF_BASE"] = backoff
    assert emulator.sent(endpoint="multicast") == []
    assert [r["status"] for r in emulator.requests("multicast")] == [503]
    body = district.get(f"/announcements/{ident}").get_json()
    assert (body["status"], body["sent"], body["cancelled"], body["pending"]) == (
        "cancelled", 0, 1100, 0)
    assert adds_up(body)


def test_a_batch_line_accepted_while_it_was_cancelled_stays_counted_as_sent(
        app, district, worker, emulator, session):
    users(app, 600)  # batches of 500 and 100
    ident = announce(district).get_json()["id"]
    emulator.fault("multicast", status=200, count=1, delay=1.5, when="after")  # accepted
    sender = sender_thread(app)
    wait_until(lambda: in_flight(emulator), timeout=30)
    assert district.post(f"/announcements/{ident}/cancel").status_code == 200
    sender.join(timeout=60)
    worker.burst()
    [item] = emulator.sent(endpoint="multicast")
    assert len(item["to"]) == 500
    body = district.get(f"/announcements/{ident}").get_json()
    assert (body["status"], body["sent"], body["cancelled"], body["pending"]) == (
        "cancelled", 500, 100, 0)
    assert adds_up(body)
    session.expire_all()
    kept = session.get(Announcement, ident)
    assert (kept.sent_count, kept.failed_count) == (500, 0)  # kept once it settled


# -- counts that add up --------------------------------------------------------------------

def test_users_who_unfollow_after_it_was_released_are_counted_as_skipped_not_sent(
        app, district, worker, emulator, session):
    thai = users(app, 501)  # batches of 500 and 1
    english = users(app, 2, language="en")  # a batch of its own
    ident = announce(district).get_json()["id"]
    assert release(worker) == 1  # queued, not sent yet
    gone = thai[:3] + english  # the English batch: everyone in it unfollowed
    session.execute(sa.update(LineUser).where(LineUser.line_user_id.in_(gone))
                    .values(followed=False))
    session.commit()
    worker.burst()
    delivered = [u for batch in multicast_to(emulator) for u in batch]
    assert sorted(delivered) == sorted(thai[3:])
    body = district.get(f"/announcements/{ident}").get_json()
    assert (body["status"], body["recipients"], body["sent"], body["skipped_blocked"],
            body["failed"], body["cancelled"], body["pending"]) == (
        "sent", 503, 498, 5, 0, 0, 0)
    assert adds_up(body)


# -- one monthly budget --------------------------------------------------------------------

def consumption(emulator, used: int) -> None:
    emulator.http.post(emulator.base + "/api/quota/consumption", json={"totalUsage": used},
                       timeout=10).raise_for_status()


def test_when_line_cannot_say_what_is_left_the_officer_is_told_and_confirms(
        app, district, worker, emulator, session):
    users(app, 3)
    emulator.fault("quota", status=500, count=1)
    asked = announce(district)
    error = error_of(asked)
    assert (asked.status_code, error["code"], error["detail"]["estimate"]) == (
        409, "quota_unknown", 3)
    assert error["detail"]["quota"]["known"] is False
    emulator.fault("quota", status=500, count=1)
    confirmed = announce(district, confirm=True)
    assert confirmed.status_code == 202
    ident = confirmed.get_json()["id"]
    # at its send time LINE still cannot say: it waits (LINE is asked again later)...
    emulator.fault("quota", status=500, count=1)
    worker.burst()
    assert emulator.sent(endpoint="multicast") == []
    assert district.get(f"/announcements/{ident}").get_json()["status"] == "scheduled"
    # ...at most UNKNOWN_QUOTA_WAIT, then it goes unchecked (LINE's own limit still holds)
    session.execute(sa.update(Announcement).values(
        send_at=now() - service.UNKNOWN_QUOTA_WAIT - dt.timedelta(seconds=1)))
    session.commit()
    worker.burst()  # the worker does not ask again so soon after a failed ask
    assert len(emulator.sent(endpoint="multicast")) == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "announcement.unchecked")) == 1


def test_the_budget_is_checked_again_when_it_goes_and_its_author_told(
        app, world, district, worker, emulator, session):
    author_line = link_line(app, district.username)
    users(app, 50)
    emulator.quota(type="limited", value=1000)
    consumption(emulator, 100)
    later = now() + dt.timedelta(hours=2)
    ident = announce(district, send_at=later.isoformat()).get_json()["id"]
    consumption(emulator, 980)  # reminders and updates to parents used the month meanwhile
    session.execute(sa.update(Announcement).values(send_at=now() - dt.timedelta(seconds=1),
                                                   scheduled_by_officer=False))
    session.commit()
    worker.burst()
    assert emulator.sent(endpoint="multicast") == []
    body = district.get(f"/announcements/{ident}").get_json()
    assert (body["status"], body["sent"], body["cancelled"], body["pending"],
            body["recipients"]) == ("refused", 0, 0, 0, 50)
    [told] = emulator.sent(author_line)
    assert "ไม่ได้ส่ง" in told["messages"][0]["text"] and "50" in told["messages"][0]["text"]
    detail = session.scalars(sa.select(AuditEntry.detail).where(
        AuditEntry.action == "announcement.refuse")).one()
    assert (detail["needed"], detail["remaining"]) == (50, 20)


def test_batches_still_sending_are_held_against_the_budget(app, district, worker, emulator):
    users(app, 600)
    emulator.quota(type="limited", value=1000)
    assert announce(district).status_code == 202
    assert release(worker) == 1  # its 600 are queued, not sent yet
    budget = district.get("/quota").get_json()
    assert (budget["used"], budget["sending"], budget["reserved"], budget["remaining"]) == (
        0, 600, 0, 400)
    refused = announce(district)
    assert (refused.status_code, error_of(refused)["code"]) == (409, "quota_exceeded")
    assert error_of(refused)["detail"]["quota"]["remaining"] == 400


def test_an_announcement_for_next_month_is_checked_against_next_months_budget(
        app, district, emulator):
    users(app, 50)
    emulator.quota(type="limited", value=100)
    consumption(emulator, 95)  # this month is nearly used up
    assert error_of(announce(district))["code"] == "quota_exceeded"
    first = service.next_month_start(now()) + dt.timedelta(hours=2)  # 09:00 on the 1st
    accepted = announce(district, send_at=first.isoformat())
    assert accepted.status_code == 202, accepted.get_json()
    quota = accepted.get_json()["quota"]
    assert (quota["ahead"], quota["used"], quota["limit"], quota["remaining"]) == (
        True, 0, 100, 100)
    # next month's budget now holds it: another 50 for that month would leave under 10%
    assert error_of(announce(district, send_at=first.isoformat()))["code"] == "quota_confirm"
    # this month's budget does not count it
    assert district.get("/quota").get_json()["reserved"] == 0
