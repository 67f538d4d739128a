"""Signing in to the console: right and wrong passwords, unknown users, the lockout and its
end, deactivated accounts, the session's cookie and idle timeout, signing out."""

from __future__ import annotations

import datetime as dt
import time

import sqlalchemy as sa

from models import AuditEntry, Officer
from tests import factories as f
from tests.console.conftest import PASSWORD, Console, csrf_of, login

REFUSED = "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง"


def audit_actions(session) -> list[tuple[str, str, str | None]]:
    rows = session.execute(sa.select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail)
                           .order_by(AuditEntry.id))
    return [(who, action, (detail or {}).get("reason")) for who, action, detail in rows]


def test_the_console_asks_to_sign_in_first(client):
    response = client.get("/console/cases?stage=received")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login?next=")
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "เข้าสู่ระบบ" in page.get_data(as_text=True)


def test_right_password_signs_in_and_goes_where_asked(app, client, session, learn_officer):
    token = csrf_of(client, "/console/login?next=/console/cases?stage=received")
    response = client.post("/console/login", data={
        "username": "Learn.NP ", "password": PASSWORD, "csrf_token": token,
        "next": "/console/cases?stage=received"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/cases?stage=received"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert client.get("/console/cases").status_code == 200
    session.expire_all()
    officer = session.scalar(sa.select(Officer).where(Officer.username == "learn.np"))
    assert officer.last_login_at is not None and officer.failed_logins == 0
    assert audit_actions(session)[-2:] == [("learn.np", "console.login", None),
                                           ("learn.np", "case.list", None)]


def test_the_next_address_never_leaves_the_console(client, learn_officer):
    for target in ("https://evil.example/", "//evil.example/x", "/api/v1/cases",
                   "/\\evil.example"):
        token = csrf_of(client)
        response = client.post("/console/login", data={
            "username": "learn.np", "password": PASSWORD, "csrf_token": token,
            "next": target})
        assert response.headers["Location"] == "/console/cases", target
        client.post("/console/logout", data={"csrf_token": csrf_of(client, "/console/cases")})


def test_wrong_password_and_unknown_user_get_the_same_answer(client, session, learn_officer):
    wrong = login(client, "learn.np", "not the password")
    unknown = login(client, "nobody.here", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert REFUSED in wrong.get_data(as_text=True)
    assert wrong.get_data(as_text=True).replace("learn.np", "X") == \
        unknown.get_data(as_text=True).replace("nobody.here", "X").replace(
            _token(unknown), _token(wrong))
    assert client.get("/console/cases").status_code == 302
    assert audit_actions(session) == [("learn.np", "console.login_failed", "wrong_password"),
                                      ("nobody.here", "console.login_failed", "unknown_user")]


def _token(response) -> str:
    text = response.get_data(as_text=True)
    start = text.index('name="csrf_token" value="') + len('name="csrf_token" value="')
    return text[start:text.index('"', start)]


def test_five_failures_lock_the_account_for_15_minutes(client, session, learn_officer):
    for _ in range(5):
        assert login(client, "learn.np", "not the password").status_code == 401
    session.expire_all()
    officer = session.scalar(sa.select(Officer).where(Officer.username == "learn.np"))
    assert officer.locked_until is not None
    left = officer.locked_until - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=14) < left <= dt.timedelta(minutes=15)
    # locked: even the right password is refused, with the same words
    locked = login(client, "learn.np", PASSWORD)
    assert locked.status_code == 401 and REFUSED in locked.get_data(as_text=True)
    assert audit_actions(session)[-2:] == [("learn.np", "console.login_failed", "locked_now"),
                                           ("learn.np", "console.login_failed", "locked")]
    # fifteen minutes later (the lock's time moved back), the right password works again
    session.execute(sa.update(Officer).where(Officer.id == officer.id).values(
        locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    session.commit()
    assert login(client, "learn.np", PASSWORD).status_code == 302
    session.expire_all()
    officer = session.scalar(sa.select(Officer).where(Officer.username == "learn.np"))
    assert officer.failed_logins == 0 and officer.locked_until is None


def test_a_success_resets_the_count_of_failures(client, session, learn_officer):
    for _ in range(4):
        login(client, "learn.np", "not the password")
    assert login(client, "learn.np", PASSWORD).status_code == 302
    for _ in range(4):
        login(client, "learn.np", "not the password")
    session.expire_all()
    assert session.scalar(sa.select(Officer.locked_until)) is None


def test_a_deactivated_account_cannot_sign_in_and_is_signed_out(client, session,
                                                                learn_officer):
    console = Console(client, learn_officer)
    assert console.get("/console/cases").status_code == 200
    session.execute(sa.update(Officer).values(active=False))
    session.commit()
    assert console.get("/console/cases").status_code == 302  # checked on every request
    refused = login(client, "learn.np", PASSWORD)
    assert refused.status_code == 401 and REFUSED in refused.get_data(as_text=True)
    assert audit_actions(session)[-1] == ("learn.np", "console.login_failed", "inactive")


def test_an_account_made_on_line_without_a_password_cannot_sign_in(client, session):
    officer = f.officer(session, username="line-only")
    session.execute(sa.update(Officer).where(Officer.id == officer.id)
                    .values(password_hash=None))
    session.commit()
    assert login(client, "line-only", "").status_code == 401


def test_idle_sessions_end(app, client, learn_officer):
    Console(client, learn_officer)
    with client.session_transaction("/console/cases") as s:
        assert s["oid"]
        s["seen"] = int(time.time()) - 31 * 60
    response = client.get("/console/cases")
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert "ไม่มีการใช้งาน" in page.get_data(as_text=True)


def test_sign_out_is_a_post_and_ends_the_session(client, session, learn_officer):
    console = Console(client, learn_officer)
    assert client.get("/console/logout").status_code == 404  # not by a link
    assert console.get("/console/cases").status_code == 200
    response = console.post("/console/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/console/login"
    assert client.get("/console/cases").status_code == 302
    assert audit_actions(session)[-1] == ("learn.np", "console.logout", None)


# -- sessions that end when they should --------------------------------------------------------

def copy_of(app, client):
    """Another browser holding a copy of `client`'s session cookie (stolen, or kept)."""
    cookie = client.get_cookie("session", path="/console")
    assert cookie is not None
    other = app.test_client()
    other.set_cookie("session", cookie.value, path="/console")
    return other


def signed_in(client) -> bool:
    return client.get("/console/cases").status_code == 200


def test_a_cookie_copied_before_signing_out_no_longer_signs_in(app, client, session,
                                                                learn_officer):
    console = Console(client, learn_officer)
    replay = copy_of(app, client)
    assert signed_in(replay)  # a copy works like the original (a signed cookie)
    console.post("/console/logout")
    assert not signed_in(client)
    response = replay.get("/console/cases")
    assert response.status_code == 302 and response.headers["Location"].startswith(
        "/console/login")
    page = replay.get(response.headers["Location"]).get_data(as_text=True)
    assert "กรุณาเข้าสู่ระบบอีกครั้ง" in page
    assert not signed_in(replay)
    # signing in again gives a session that works
    assert login(replay, "learn.np").status_code == 302 and signed_in(replay)


def test_signing_in_on_another_browser_keeps_the_first(app, client, learn_officer):
    Console(client, learn_officer)
    Console(app.test_client(), learn_officer)
    assert signed_in(client)


def test_a_new_password_ends_every_other_session_of_the_account(app, client, session,
                                                               learn_officer):
    console = Console(client, learn_officer)
    elsewhere = Console(app.test_client(), learn_officer)
    replay = copy_of(app, client)
    response = console.post("/console/password", {
        "current": PASSWORD, "new": "a brand new horse", "again": "a brand new horse"})
    assert response.status_code == 302
    assert signed_in(client)  # the browser that changed it goes on
    assert not signed_in(replay) and not signed_in(elsewhere.client)
    assert login(app.test_client(), "learn.np").status_code == 401
    assert login(app.test_client(), "learn.np", "a brand new horse").status_code == 302


def test_five_wrong_current_passwords_lock_the_account_and_end_its_sessions(
        app, client, session, learn_officer):
    console = Console(client, learn_officer)
    elsewhere = Console(app.test_client(), learn_officer)
    for n in range(5):
        response = console.post("/console/password", {
            "current": "not it at all", "new": "a brand new horse",
            "again": "a brand new horse"})
        assert response.status_code == (302 if n == 4 else 422)
    session.expire_all()
    officer = session.get(Officer, learn_officer.id)
    assert officer.locked_until is not None and officer.failed_logins == 0
    assert not signed_in(client) and not signed_in(elsewhere.client)


def test_wrong_passwords_at_the_same_time_all_count(app, session, learn_officer):
    """Eight sign-ins with a wrong password sent at once, over HTTP to the live server: the
    count is kept in the database with atomic updates, so none is lost; no more than five
    passwords are tried before the lock, and the account is locked."""
    import threading

    import requests

    base = app.config["TEST_BASE_URL"]
    browsers = []
    for _ in range(8):
        browser = requests.Session()
        page = browser.get(f"{base}/console/login", timeout=30).text
        start = page.index('name="csrf_token" value="') + len('name="csrf_token" value="')
        browsers.append((browser, page[start:page.index('"', start)]))
    ready = threading.Barrier(len(browsers))
    answers: list[int] = []

    def attempt(browser, token):
        ready.wait()
        answer = browser.post(f"{base}/console/login", timeout=60, allow_redirects=False,
                              data={"username": "learn.np", "password": "not the password",
                                    "csrf_token": token})
        answers.append(answer.status_code)

    threads = [threading.Thread(target=attempt, args=pair) for pair in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answers == [401] * 8
    session.expire_all()
    officer = session.get(Officer, learn_officer.id)
    assert officer.locked_until is not None and officer.locked_until > dt.datetime.now(dt.UTC)
    reasons = [reason for _who, action, reason in audit_actions(session)
               if action == "console.login_failed"]
    assert len(reasons) == 8
    # each password tried was counted: four wrong, the fifth locked; the rest never tried
    assert sorted(reasons) == sorted(["wrong_password"] * 4 + ["locked_now"]
                                     + ["locked"] * 3)
    assert login(app.test_client(), "learn.np", PASSWORD).status_code == 401  # locked
