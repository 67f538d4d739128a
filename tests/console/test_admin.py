"""Administration in the console: only administrators come in (others get a page saying so);
officers created with a temporary password that signs in, their scope changed, deactivated and
reactivated, a lockout ended, a new temporary password; an agency's deadlines; invitation
codes issued (shown once), listed and revoked (a revoked code no longer registers on LINE);
the audit log's filters and pages; every change confirmed first, refused without the form's
CSRF token, and written to the audit log."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from models import Agency, AuditEntry, Invitation, Officer, utcnow
from services import audit, invitations
from services.access import Actor
from tests import factories as f
from tests.console.conftest import Console, login
from tests.handlers.test_registration import answer_until_code
from tests.support import Chat

ADMIN_PAGES = ["/console/admin", "/console/admin/officers", "/console/admin/officers/new",
               "/console/admin/agencies", "/console/admin/agencies/LEARN",
               "/console/admin/invitations", "/console/admin/audit"]
REFUSED = "เฉพาะผู้ดูแลระบบ"


@pytest.fixture
def admin(session):
    return f.officer(session, role="admin", agency="EDU", area="40", username="admin.kk")


@pytest.fixture
def desk(app, admin):
    """The administrator's signed-in browser."""
    return Console(app.test_client(), admin)


def actions(session, prefix: str) -> list[AuditEntry]:
    session.expire_all()
    return list(session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)))


def text(response) -> str:
    return response.get_data(as_text=True)


def temporary_password(response) -> str:
    found = re.search(r'id="temporary-password">([^<]+)<', text(response))
    assert found, text(response)[:2000]
    return found.group(1)


# -- who may come in -------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["officer", "supervisor"])
def test_everyone_but_an_administrator_gets_a_page_saying_so(app, session, role):
    someone = f.officer(session, role=role, agency="LEARN", area="40", username=f"{role}.kk")
    console = Console(app.test_client(), someone)
    for path in ADMIN_PAGES:
        page = console.get(path)
        assert page.status_code == 403, path
        assert REFUSED in text(page) and page.mimetype == "text/html"
    refused = console.post("/console/admin/officers/new",
                           {"username": "sneaky", "role": "admin", "agency": "EDU",
                            "area": "40", "confirm": "1"})
    assert refused.status_code == 403
    assert session.scalar(sa.select(Officer).where(Officer.username == "sneaky")) is None
    assert "ดูแลระบบ" not in text(console.get("/console/cases")).split("<main>")[0]


def test_signed_out_goes_to_the_login_page(client):
    response = client.get("/console/admin/officers")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_the_administrator_sees_the_menu_and_the_lists(desk, session):
    f.officer(session, agency="LEARN", area="4007", username="learn.np")
    f.officer(session, agency="LEARN", area="4018", username="learn.cb")
    page = text(desk.get("/console/cases"))
    assert 'href="/console/admin"' in page
    listing = text(desk.get("/console/admin/officers"))
    assert "learn.np" in listing and "learn.cb" in listing and "admin.kk" in listing
    assert "learn.np" in text(desk.get("/console/admin/officers?q=np"))
    assert "learn.cb" not in text(desk.get("/console/admin/officers?q=np"))


def test_an_administrator_of_a_district_manages_only_its_accounts(app, session):
    district_admin = f.officer(session, role="admin", agency="LEARN", area="4007",
                               username="admin.np")
    inside = f.officer(session, agency="LEARN", area="400701", username="learn.tambon")
    outside = f.officer(session, agency="LEARN", area="4018", username="learn.cb")
    desk = Console(app.test_client(), district_admin)
    listing = text(desk.get("/console/admin/officers"))
    assert "learn.tambon" in listing and "learn.cb" not in listing
    assert desk.get(f"/console/admin/officers/{inside.id}").status_code == 200
    assert desk.get(f"/console/admin/officers/{outside.id}").status_code == 404
    assert desk.post(f"/console/admin/officers/{outside.id}/active",
                     {"active": "0", "confirm": "1"}).status_code == 404
    # and gives only areas inside its own
    refused = desk.post("/console/admin/officers/new", {
        "username": "province.person", "role": "officer", "agency": "LEARN", "area": "40",
        "confirm": "1"})
    assert refused.status_code == 422 and "กรุณาเลือกพื้นที่ที่อยู่ในพื้นที่ของคุณ" in text(refused)
    session.expire_all()
    assert session.get(Officer, outside.id).active


# -- officers --------------------------------------------------------------------------------

def test_create_an_officer_who_signs_in_with_the_temporary_password(app, desk, session):
    form = {"username": "  Somchai.K ", "full_name": "สมชาย ขยันดี", "role": "officer",
            "agency": "LEARN", "area": "4007"}
    confirm = desk.post("/console/admin/officers/new", form)
    assert confirm.status_code == 200
    assert "ยืนยันสร้างบัญชีนี้ไหมคะ" in text(confirm) and "somchai.k" in text(confirm)
    assert session.scalar(sa.select(Officer).where(Officer.username == "somchai.k")) is None

    done = desk.post("/console/admin/officers/new", {**form, "username": "somchai.k",
                                                     "confirm": "1"})
    password = temporary_password(done)
    assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", password)
    assert "no-store" in done.headers["Cache-Control"]
    officer = session.scalar(sa.select(Officer).where(Officer.username == "somchai.k"))
    assert (officer.role, officer.agency_code, officer.area_code, officer.full_name) == (
        "officer", "LEARN", "4007", "สมชาย ขยันดี")
    assert password not in officer.password_hash
    [row] = actions(session, "officer.create")
    assert row.actor == "admin.kk" and row.detail["username"] == "somchai.k"
    assert row.detail["area"] == "4007" and password not in str(row.detail)

    newcomer = app.test_client()
    assert login(newcomer, "somchai.k", password).status_code == 302
    # the officer changes it at once under "My password"
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      text(newcomer.get("/console/password"))).group(1)
    changed = newcomer.post("/console/password", data={
        "current": password, "new": "ปลาทูแม่กลอง 2569", "again": "ปลาทูแม่กลอง 2569",
        "csrf_token": token})
    assert changed.status_code == 302
    assert login(app.test_client(), "somchai.k", "ปลาทูแม่กลอง 2569").status_code == 302
    assert login(app.test_client(), "somchai.k", password).status_code == 401
    assert [r.actor for r in actions(session, "officer.password_change")] == ["somchai.k"]


@pytest.mark.parametrize(("change", "message"), [
    ({"username": "x"}, "ใช้ตัวอักษรภาษาอังกฤษตัวเล็ก"),
    ({"username": "admin.kk"}, "ชื่อผู้ใช้นี้มีคนใช้แล้ว"),
    ({"role": "volunteer"}, "กรุณาเลือกบทบาท"),
    ({"agency": "NOPE"}, "กรุณาเลือกหน่วยงาน"),
    ({"area": "99"}, "กรุณาเลือกพื้นที่ที่อยู่ในพื้นที่ของคุณ"),
])
def test_a_new_account_form_with_a_mistake_comes_back_with_the_reason(desk, session, change,
                                                                       message):
    form = {"username": "new.one", "role": "officer", "agency": "LEARN", "area": "4007",
            "full_name": "ใหม่ ใจดี", "confirm": "1", **change}
    response = desk.post("/console/admin/officers/new", form)
    assert response.status_code == 422
    assert message in text(response) and 'value="ใหม่ ใจดี"' in text(response)
    assert actions(session, "officer.create") == []


def test_scope_deactivation_lockout_and_a_new_password(app, desk, session, admin):
    worker_ = f.officer(session, agency="LEARN", area="4007", username="learn.np")
    theirs = Console(app.test_client(), worker_)
    path = f"/console/admin/officers/{worker_.id}"

    # role and scope, confirmed first
    form = {"role": "supervisor", "agency": "SOCIAL", "area": "4018"}
    assert "ยืนยันเปลี่ยนบทบาทและขอบเขตของ learn.np ไหมคะ" in text(
        desk.post(f"{path}/scope", form))
    assert desk.post(f"{path}/scope", {**form, "confirm": "1"}).status_code == 302
    session.expire_all()
    changed = session.get(Officer, worker_.id)
    assert (changed.role, changed.agency_code, changed.area_code) == (
        "supervisor", "SOCIAL", "4018")
    [row] = actions(session, "officer.scope")
    assert row.detail["changes"] == {"role": ["officer", "supervisor"],
                                     "agency_code": ["LEARN", "SOCIAL"],
                                     "area_code": ["4007", "4018"]}

    # deactivated: their open session ends, they cannot sign in
    assert "ยืนยันปิดการใช้งานบัญชี learn.np ไหมคะ" in text(
        desk.post(f"{path}/active", {"active": "0"}))
    session.expire_all()
    assert session.get(Officer, worker_.id).active
    assert desk.post(f"{path}/active", {"active": "0", "confirm": "1"}).status_code == 302
    assert theirs.get("/console/cases").status_code == 302  # to the login page
    assert login(app.test_client(), "learn.np").status_code == 401
    assert "ปิดการใช้งานแล้ว" in text(desk.get(path))
    desk.post(f"{path}/active", {"active": "1", "confirm": "1"})
    assert login(app.test_client(), "learn.np").status_code == 302

    # locked after wrong passwords; the administrator ends the wait
    for _ in range(5):
        login(app.test_client(), "learn.np", "wrong password!")
    assert login(app.test_client(), "learn.np").status_code == 401
    assert "ให้เข้าระบบได้ทันที" in text(desk.get(path))
    desk.post(f"{path}/unlock", {"confirm": "1"})
    assert login(app.test_client(), "learn.np").status_code == 302

    # a new temporary password: the old one stops working
    assert "ยืนยันตั้งรหัสผ่านชั่วคราวใหม่ให้ learn.np ไหมคะ" in text(
        desk.post(f"{path}/password", {}))
    password = temporary_password(desk.post(f"{path}/password", {"confirm": "1"}))
    assert login(app.test_client(), "learn.np").status_code == 401
    assert login(app.test_client(), "learn.np", password).status_code == 302

    done = [r.action for r in actions(session, "officer.")]
    assert done == ["officer.scope", "officer.deactivate", "officer.reactivate",
                    "officer.unlock", "officer.password_reset"]
    assert all(r.actor == "admin.kk" for r in actions(session, "officer."))

    # an administrator cannot lock themselves out
    own = f"/console/admin/officers/{admin.id}"
    desk.post(f"{own}/active", {"active": "0", "confirm": "1"})
    refused = desk.post(f"{own}/scope", {"role": "officer", "agency": "EDU", "area": "40",
                                         "confirm": "1"})
    assert refused.status_code == 422 and "เปลี่ยนบทบาทของตัวเองไม่ได้" in text(refused)
    session.expire_all()
    me = session.get(Officer, admin.id)
    assert me.active and me.role == "admin"


# -- agencies --------------------------------------------------------------------------------

def test_an_agencys_deadlines(desk, session, volunteer, app):
    case = f.report(session, app.config["SECRET_KEY"], volunteer)
    before = case.due_at
    listing = text(desk.get("/console/admin/agencies"))
    assert "ตรวจสอบเรื่องใหม่" in listing and ">7<" in listing

    refused = desk.post("/console/admin/agencies/LEARN", {"verify": "0", "visit": "abc"})
    assert refused.status_code == 422
    assert text(refused).count("ใส่จำนวนวันเป็นเลขจำนวนเต็ม 1 ถึง 365 วัน") == 2

    form = {"verify": "๓", "referral": "", "first_action": "", "visit": ""}
    confirm = desk.post("/console/admin/agencies/LEARN", form)
    assert "ยืนยันเปลี่ยนระยะเวลาของ" in text(confirm) and "7 → 3 วัน" in text(confirm)
    session.expire_all()
    assert session.get(Agency, "LEARN").verify_days is None
    done = desk.post("/console/admin/agencies/LEARN", {**form, "confirm": "1"},
                     follow_redirects=True)
    assert "เรื่องที่ยังไม่ปิด 1 เรื่องได้กำหนดใหม่" in text(done)
    session.expire_all()
    assert session.get(Agency, "LEARN").verify_days == 3
    session.refresh(case)
    assert case.due_at == before - dt.timedelta(days=4)
    [row] = actions(session, "agency.deadlines")
    assert row.actor == "admin.kk" and row.detail["after"]["verify"] == 3
    again = desk.post("/console/admin/agencies/LEARN", {**form, "confirm": "1"},
                      follow_redirects=True)
    assert "ไม่มีอะไรเปลี่ยนแปลง" in text(again)
    desk.post("/console/admin/agencies/LEARN", {"verify": "", "confirm": "1"})
    session.expire_all()
    assert session.get(Agency, "LEARN").verify_days is None


# -- invitation codes ------------------------------------------------------------------------

def issue(desk, **form) -> tuple[str, int]:
    form = {"role": "volunteer", "subdistrict": "400701", "days": "14", **form}
    confirm = desk.post("/console/admin/invitations", form)
    assert "ยืนยันออกรหัสเชิญไหมคะ" in text(confirm), text(confirm)[:3000]
    done = desk.post("/console/admin/invitations", {**form, "confirm": "1"})
    found = re.search(r'id="invitation-code">(\d{6})<', text(done))
    assert found, text(done)[:3000]
    return found.group(1), done


def test_invitation_codes_issued_shown_once_listed_and_revoked(app, desk, session, admin):
    code, done = issue(desk)
    [row] = session.scalars(sa.select(Invitation))
    assert row.role == "volunteer" and row.subdistrict_code == "400701"
    assert code not in row.code_hash
    assert row.expires_at - utcnow() > dt.timedelta(days=13)
    assert code not in text(desk.get("/console/admin/invitations"))  # shown once

    officer_code, _page = issue(desk, role="officer", agency="SOCIAL", area="4007",
                                days="3")
    target = f.officer(session, agency="PHC", area="400701", username="phc.np")
    linked_code, _page = issue(desk, role="officer", username="phc.np")
    rows = list(session.scalars(sa.select(Invitation).order_by(Invitation.id)))
    assert [(r.role, r.agency_code, r.area_code, r.officer_id) for r in rows[1:]] == [
        ("officer", "SOCIAL", "4007", None), ("officer", "PHC", "400701", target.id)]

    listing = text(desk.get("/console/admin/invitations"))
    assert f'id="invitation-{row.id}"' in listing and "(phc.np)" in listing

    confirm = desk.post(f"/console/admin/invitations/{row.id}/revoke", {})
    assert "ยืนยันยกเลิกรหัสเชิญนี้ไหมคะ" in text(confirm)
    session.expire_all()
    assert session.get(Invitation, row.id).revoked_at is None
    desk.post(f"/console/admin/invitations/{row.id}/revoke", {"confirm": "1"})
    session.expire_all()
    assert session.get(Invitation, row.id).revoked_at is not None
    assert invitations.status(session.get(Invitation, row.id)) == "revoked"
    listing = text(desk.get("/console/admin/invitations"))
    block = listing.split(f'id="invitation-{row.id}"')[1].split("</tr>")[0]
    assert "ยกเลิกแล้ว" in block and "ยกเลิกรหัส</button>" not in block

    # the service refuses it; revoking twice changes nothing
    user = f.line_user(session)
    result = invitations.redeem(session, app.config["SECRET_KEY"], user, code)
    assert result.reason == "revoked" and result.invitation is None
    session.rollback()
    again = desk.post(f"/console/admin/invitations/{row.id}/revoke", {"confirm": "1"},
                      follow_redirects=True)
    assert "ถูกใช้หรือยกเลิกไปแล้ว" in text(again)
    logged = actions(session, "invitation.")
    assert [r.action for r in logged] == ["invitation.issue"] * 3 + ["invitation.revoke"]
    assert all(r.actor == "admin.kk" and code not in str(r.detail) for r in logged)
    assert {officer_code, linked_code}.isdisjoint({code})


def test_a_revoked_code_does_not_register_on_line(app, desk, session, emulator, worker):
    code, _page = issue(desk)
    [row] = session.scalars(sa.select(Invitation))
    desk.post(f"/console/admin/invitations/{row.id}/revoke", {"confirm": "1"})
    session.commit()
    chat = Chat(emulator, worker, "U" + "d4" * 16)
    answer_until_code(chat)
    answer = chat.say(code)
    assert answer[0]["text"] == "รหัสนี้หมดอายุแล้วค่ะ กรุณาขอรหัสใหม่นะคะ"
    user = session.scalar(sa.text("SELECT role FROM line_users WHERE line_user_id = :u"),
                          {"u": chat.user})
    assert user != "volunteer"
    # a fresh code from the same page registers
    fresh, _page = issue(desk)
    session.commit()
    assert chat.say(fresh)[0]["text"].startswith("ลงทะเบียนเรียบร้อยแล้วค่ะ")


def test_an_invitation_form_with_a_mistake_comes_back(desk, session):
    for form, message in (
            ({"role": "volunteer", "subdistrict": "401801x", "days": "14"},
             "กรุณาเลือกตำบลในพื้นที่ของคุณ"),
            ({"role": "officer", "agency": "", "area": "4007", "days": "14"},
             "กรุณาเลือกหน่วยงาน"),
            ({"role": "officer", "username": "nobody", "days": "14"},
             "ไม่พบบัญชีนี้ในพื้นที่ของคุณ"),
            ({"role": "volunteer", "subdistrict": "400701", "days": "999"},
             "กรุณาเลือกว่ารหัสใช้ได้กี่วัน"),
            ({"role": "parent", "days": "14"}, "กรุณาเลือกว่ารหัสนี้สำหรับใคร")):
        response = desk.post("/console/admin/invitations", {**form, "confirm": "1"})
        assert response.status_code == 422 and message in text(response), form
    assert session.scalar(sa.select(sa.func.count(Invitation.id))) == 0


# -- the audit log ---------------------------------------------------------------------------

def test_the_audit_log_filters_and_pages(desk, session, volunteer, app, monkeypatch):
    monkeypatch.setattr("handlers.console.admin.PAGE_SIZE", 2)
    case = f.report(session, app.config["SECRET_KEY"], volunteer)
    other = f.report(session, app.config["SECRET_KEY"], volunteer)
    someone = Actor(kind="officer", name="learn.np", via="test")
    for n in range(3):
        audit.record(session, someone, "case.read", case, n=n)
    audit.record(session, someone, "case.read", other)
    old = audit.record(session, someone, "token.create")
    session.flush()
    old.at = utcnow() - dt.timedelta(days=40)
    session.commit()

    def shown(query: str) -> list[str]:
        rows, url = [], f"/console/admin/audit?{query}"
        while url:
            page = desk.get(url)
            assert page.status_code == 200, text(page)[:2000]
            body = text(page).split('id="audit"')[1] if 'id="audit"' in text(page) else ""
            rows += re.findall(r"<code>([a-z_.]+)</code>", body)
            found = re.search(r'href="([^"]+)" rel="next"', text(page))
            url = found.group(1).replace("&amp;", "&") if found else None
        return rows

    assert shown("actor=learn.np") == ["token.create", "case.read", "case.read",
                                       "case.read", "case.read"]
    assert shown("actor=learn.np&action=case.") == ["case.read"] * 4
    assert shown(f"reference={case.reference.replace('KK-', '').replace('-', ' ')}") == \
        ["case.read"] * 3
    day = (utcnow() - dt.timedelta(days=40)).astimezone(dt.timezone(dt.timedelta(hours=7)))
    assert shown(f"actor=learn.np&since={day:%Y-%m-%d}&until={day:%Y-%m-%d}") == \
        ["token.create"]
    be = f"{day.day}/{day.month}/{day.year + 543}"
    assert shown(f"actor=learn.np&until={be}") == ["token.create"]
    bad = desk.get("/console/admin/audit?since=31/2/2569&reference=hello")
    assert bad.status_code == 422
    assert "นี่ไม่ใช่เลขที่เรื่อง" in text(bad) and "ยังอ่านวันที่นี้ไม่ออก" in text(bad)
    assert "<code>" not in text(bad)  # nothing listed under filters that were not read
    listed = actions(session, "audit.list")
    assert listed and listed[0].actor == "admin.kk"
    assert listed[0].detail["filters"] == {"actor": "learn.np"}


# -- CSRF ------------------------------------------------------------------------------------

def admin_posts(app) -> list[str]:
    return sorted(rule.rule for rule in app.url_map.iter_rules()
                  if (rule.rule.startswith("/console/admin") or rule.rule == "/console/password")
                  and "POST" in rule.methods)


def test_every_admin_post_without_the_csrf_token_is_refused_and_changes_nothing(
        app, desk, session):
    target = f.officer(session, agency="LEARN", area="4007", username="learn.np")
    _code, invitation = invitations.issue(session, app.config["SECRET_KEY"], "volunteer",
                                          subdistrict="400701")
    session.commit()
    routes = admin_posts(app)
    assert len(routes) == 9
    form = {"username": "sneaky", "role": "admin", "agency": "EDU", "area": "40",
            "active": "0", "verify": "2", "subdistrict": "400701", "days": "14",
            "current": "correct horse 1", "new": "another horse 2", "again": "another horse 2",
            "confirm": "1"}

    def state():
        session.expire_all()
        return (session.scalar(sa.select(sa.func.count(Officer.id))),
                tuple(session.execute(sa.select(Officer.role, Officer.active,
                                                Officer.password_hash).order_by(Officer.id))),
                session.scalar(sa.select(sa.func.count(Invitation.id))),
                session.get(Invitation, invitation.id).revoked_at,
                session.get(Agency, "LEARN").verify_days,
                session.scalar(sa.select(sa.func.count(AuditEntry.id))))

    before = state()
    for route in routes:
        path = (route.replace("<int:officer_id>", str(target.id))
                .replace("<string:code>", "LEARN")
                .replace("<int:invitation_id>", str(invitation.id)))
        for token in (None, "not-" + desk.token):
            data = dict(form) if token is None else {**form, "csrf_token": token}
            response = desk.client.post(path, data=data)
            assert response.status_code == 400, path
            assert "แบบฟอร์มนี้หมดอายุแล้ว" in text(response)
    assert state() == before
    assert desk.get("/console/admin/officers").status_code == 200  # still signed in


# -- sessions, and what an administrator of a district may do ----------------------------------

def test_a_new_scope_a_new_password_and_the_end_of_a_lockout_end_the_officer_s_sessions(
        app, desk, session):
    target = f.officer(session, agency="LEARN", area="4007", username="learn.np")
    path = f"/console/admin/officers/{target.id}"
    signed_in = Console(app.test_client(), target)  # the officer's own browser
    kept = signed_in.client.get_cookie("session", path="/console").value

    def replayed() -> int:
        """The status of the queue for a browser with a copy of the old cookie."""
        other = app.test_client()
        other.set_cookie("session", kept, path="/console")
        return other.get("/console/cases").status_code

    assert replayed() == 200
    assert desk.post(f"{path}/scope", {"role": "officer", "agency": "LEARN", "area": "400701",
                                       "confirm": "1"}).status_code == 302
    assert signed_in.get("/console/cases").status_code == 302 and replayed() == 302
    again = Console(app.test_client(), target)  # signs in again, in the new scope
    assert again.get("/console/cases").status_code == 200

    password = temporary_password(desk.post(f"{path}/password", {"confirm": "1"}))
    assert again.get("/console/cases").status_code == 302
    assert login(app.test_client(), "learn.np", password).status_code == 302

    third = app.test_client()
    login(third, "learn.np", password)
    desk.post(f"{path}/unlock", {"confirm": "1"})
    assert third.get("/console/cases").status_code == 302

    # an administrator's change to their own account keeps their own browser signed in
    own = f"/console/admin/officers/{desk.officer.id}"
    assert desk.post(f"{own}/scope", {"role": "admin", "agency": "SOCIAL", "area": "40",
                                      "confirm": "1"}).status_code == 302
    assert desk.get("/console/admin/officers").status_code == 200


AUDIT_ROW = re.compile(r"<tr>\s*<td>[^<]*</td>\s*<td>([^<]*)</td>\s*<td><code>([^<]*)</code>"
                       r"</td>\s*<td>([^<]*)</td>")


def audit_rows(console, query: str = "") -> list[tuple[str, str, str]]:
    """(who, action, case reference) of every row the audit page lists, newest first."""
    page = console.get(f"/console/admin/audit?{query}")
    assert page.status_code in (200, 422), text(page)[:2000]
    return AUDIT_ROW.findall(text(page))


def test_an_administrator_of_a_district_reads_only_its_area_s_audit_log(app, session,
                                                                       volunteer):
    secret = app.config["SECRET_KEY"]
    here = f.report(session, secret, volunteer)  # ตำบลน้ำพอง, อำเภอน้ำพอง (4007)
    far = f.report(session, secret, volunteer, subdistrict=f.CHONNABOT)  # อำเภอชนบท (4018)
    local = f.actor(f.officer(session, agency="LEARN", area="4007", username="learn.np"))
    remote = f.actor(f.officer(session, agency="LEARN", area="4018", username="learn.cb"))
    audit.record(session, remote, "case.read", here)  # about a case of 4007: theirs
    audit.record(session, remote, "case.read", far)
    audit.record(session, local, "token.create")  # an officer of 4007: theirs
    audit.record(session, remote, "token.create")
    audit.record(session, Actor(kind="system", name="scheduler", via="cli"), "retention.purge")
    session.commit()
    district = Console(app.test_client(), f.officer(
        session, role="admin", agency="EDU", area="4007", username="admin.np"))
    province = Console(app.test_client(), f.officer(
        session, role="admin", agency="EDU", area="40", username="admin.kk"))

    shown = audit_rows(district)
    assert ("learn.cb", "case.read", here.reference) in shown
    assert ("learn.np", "token.create", "") in shown
    assert far.reference not in {ref for _who, _action, ref in shown}
    assert ("learn.cb", "token.create", "") not in shown
    assert "retention.purge" not in {action for _who, action, _ref in shown}
    everything = audit_rows(province)
    assert ("learn.cb", "case.read", far.reference) in everything
    assert ("learn.cb", "token.create", "") in everything
    assert ("scheduler", "retention.purge", "") in everything

    # a reference outside the area is answered like a missing case
    assert audit_rows(district, f"reference={far.reference}") == []
    outside = text(district.get(f"/console/admin/audit?reference={far.reference}"))
    missing = text(district.get("/console/admin/audit?reference=KK-2569-99999"))
    assert outside.replace(far.reference, "X") == missing.replace("KK-2569-99999", "X")
    assert [r[1] for r in audit_rows(district, f"reference={here.reference}")] \
        and all(ref == here.reference
                for _w, _a, ref in audit_rows(district, f"reference={here.reference}"))
    assert audit_rows(province, f"reference={far.reference}")


def test_only_an_administrator_of_the_province_changes_an_agency_s_deadlines(
        app, client, session, desk):
    district_admin = f.officer(session, role="admin", agency="EDU", area="4007",
                               username="admin.np")
    district = Console(app.test_client(), district_admin)
    listing = text(district.get("/console/admin/agencies"))
    assert "แก้ไขได้เฉพาะผู้ดูแลระบบระดับจังหวัด" in listing
    page = text(district.get("/console/admin/agencies/LEARN"))
    assert 'name="verify"' not in page and "7 วัน" in page
    refused = district.post("/console/admin/agencies/LEARN", {"verify": "3", "confirm": "1"})
    assert refused.status_code == 403
    assert "ผู้ดูแลระบบระดับจังหวัด" in text(refused)
    token = f.token(session, district_admin)
    api = client.put("/api/v1/agencies/LEARN/deadlines", json={"verify": 3},
                     headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 403
    session.expire_all()
    assert session.get(Agency, "LEARN").verify_days is None
    assert actions(session, "agency.deadlines") == []
    # the province's administrator can
    assert 'name="verify"' in text(desk.get("/console/admin/agencies/LEARN"))
    assert desk.post("/console/admin/agencies/LEARN",
                     {"verify": "3", "confirm": "1"}).status_code == 302
    session.expire_all()
    assert session.get(Agency, "LEARN").verify_days == 3
