"""The console's guards: a POST without the form's CSRF token is refused (400) and changes
nothing, on every POST route; security headers on every answer; Thai error pages that leave
the API's JSON errors alone; the language switch."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.config import load_settings
from models import AuditEntry, Case, Officer, TimelineEntry
from services import workflow
from tests import factories as f
from tests.console.conftest import PASSWORD, Console, csrf_of

POST_ROUTES = [
    "/console/login",
    "/console/logout",
    "/console/language",
    "/console/cases/{ref}/reveal",
    "/console/cases/{ref}/transition",
    "/console/cases/{ref}/reopen",
    "/console/cases/{ref}/refer",
    "/console/cases/{ref}/services",
    "/console/cases/{ref}/visits",
    "/console/cases/{ref}/appointments",
    "/console/cases/{ref}/notes",
    "/console/cases/{ref}/link-code",
    "/console/cases/{ref}/consent/withdraw",
    "/console/cases/{ref}/back",
    "/console/referrals/{referral}/accept",
    "/console/referrals/{referral}/decline",
    "/console/announcements",
    "/console/announcements/{announcement}/approve",
    "/console/announcements/{announcement}/cancel",
    "/console/password",
    "/console/admin/officers/new",
    "/console/admin/officers/{officer}/scope",
    "/console/admin/officers/{officer}/active",
    "/console/admin/officers/{officer}/unlock",
    "/console/admin/officers/{officer}/password",
    "/console/admin/agencies/{agency}",
    "/console/admin/invitations",
    "/console/admin/invitations/{invitation}/revoke",
    "/console/cases/{ref}/erasure",
    "/console/erasure-requests/{request}/approve",
    "/console/erasure-requests/{request}/reject",
]
#: The placeholders of POST_ROUTES: (their rule's converter, the value a test posts to).
PLACEHOLDERS = {"ref": "<string:ref>", "referral": "<int:referral_id>",
                "announcement": "<int:announcement_id>", "officer": "<int:officer_id>",
                "agency": "<string:code>", "invitation": "<int:invitation_id>",
                "request": "<int:request_id>"}
FORM = {"to": "in_support", "note": "x", "reason": "x", "to_agency": "SOCIAL",
        "code": "scholarship", "outcome": "found", "day": "2099-01-01", "time": "09:00",
        "text": "x", "confirm": "1", "lang": "en", "username": "learn.np",
        "password": "correct horse 1"}


def snapshot(session) -> tuple:
    return (session.scalar(sa.select(sa.func.count(TimelineEntry.id))),
            session.scalar(sa.select(sa.func.count(AuditEntry.id))),
            tuple(session.execute(sa.select(Case.reference, Case.stage, Case.owner_agency_code)
                                  .order_by(Case.id))),
            session.scalar(sa.select(Officer.last_login_at).where(
                Officer.username == "learn.np")))


def test_every_post_route_is_listed_here(app):
    posts = {rule.rule for rule in app.url_map.iter_rules()
             if rule.rule.startswith("/console/") and "POST" in rule.methods
             and "<path:" not in rule.rule}
    listed = {route.format(**PLACEHOLDERS) for route in POST_ROUTES}
    assert posts == listed


@pytest.mark.parametrize("route", POST_ROUTES)
@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
        app, client, session, a_case, route, token):
    officer = f.officer(session, agency="LEARN", area="4007", username="learn.np")
    f.officer(session, agency="SOCIAL", area="40", username="social.kk")
    referral = workflow.refer(session, f.actor(officer), a_case, "SOCIAL", "needs welfare")
    session.commit()
    console = Console(client, officer)
    path = route.format(ref=a_case.reference, referral=referral.id, announcement=1,
                        officer=officer.id, agency="LEARN", invitation=1, request=1)
    before = snapshot(session)
    data = dict(FORM)
    if token == "wrong":
        data["csrf_token"] = "not-" + console.token
    response = client.post(path, data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "แบบฟอร์มนี้หมดอายุแล้ว" in page
    assert response.headers["Content-Type"].startswith("text/html")
    session.expire_all()
    assert snapshot(session) == before
    assert console.get("/console/cases").status_code == 200  # still signed in


def test_a_token_from_another_session_is_refused(app, session, a_case, learn_officer):
    one = Console(app.test_client(), learn_officer)
    other = Console(app.test_client(), learn_officer)
    assert one.token != other.token
    response = one.client.post(f"/console/cases/{a_case.reference}/notes",
                               data={"text": "x", "csrf_token": other.token})
    assert response.status_code == 400


def test_security_headers_on_every_kind_of_answer(console, a_case):
    for path in ("/console/login", "/console/cases", f"/console/cases/{a_case.reference}",
                 "/console/cases/KK-2569-99999", "/console/no-such-page"):
        response = console.get(path)
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store", path
    with console.get("/console/static/console.css") as css:
        assert css.status_code == 200 and "no-store" not in css.headers["Cache-Control"]
        assert css.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_hold_no_inline_script_or_style(console, a_case):
    for path in ("/console/cases", f"/console/cases/{a_case.reference}", "/console/login"):
        page = console.get(path).get_data(as_text=True)
        assert "<script>" not in page and "style=" not in page and "onclick" not in page
        assert "<style" not in page
        assert "http://" not in page and "cdn" not in page.lower()


def test_the_thai_font_is_served_by_the_app(client):
    response = client.get("/console/fonts/noto-sans-thai.ttf")
    assert response.status_code == 200
    assert response.mimetype == "font/ttf" and len(response.data) > 50_000
    with client.get("/console/static/console.css") as response:
        css = response.get_data(as_text=True)
    assert 'url("../fonts/noto-sans-thai.ttf")' in css


def test_console_errors_are_thai_pages_and_api_errors_stay_json(console, client):
    page = console.get("/console/nothing/here")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "ไม่พบหน้านี้" in page.get_data(as_text=True)
    api = client.get("/api/v1/cases")
    assert api.status_code == 401 and api.is_json
    assert api.get_json()["error"]["code"] == "unauthorized"
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.is_json


def test_thai_by_default_and_english_on_request(console):
    page = console.get("/console/cases", headers={"Accept-Language": "en"})
    text = page.get_data(as_text=True)
    assert '<html lang="th">' in text and "รายการเรื่อง" in text  # Thai, whatever the browser
    response = console.post("/console/language", {"lang": "en", "next": "/console/cases"})
    assert response.status_code == 302 and response.headers["Location"] == "/console/cases"
    english = console.get("/console/cases").get_data(as_text=True)
    assert '<html lang="en">' in english and "Case queue" in english
    assert "รายการเรื่อง" not in english
    console.post("/console/language", {"lang": "th"})
    assert "รายการเรื่อง" in console.get("/console/cases").get_data(as_text=True)


def test_the_language_choice_survives_signing_out(console, client):
    console.post("/console/language", {"lang": "en"})
    console.post("/console/logout")
    login_page = client.get("/console/login").get_data(as_text=True)
    assert "Sign in to Samoe" in login_page


PRODUCTION = {"SAMOE_ENV": "production", "SECRET_KEY": "k" * 32,
              "DATA_ENCRYPTION_KEYS": "Lp4cRaxTNzkE3W0ZMLAdDhKmD8n3yFXOSaAvKF7kmqE=",
              "AUDIT_CHAIN_KEY": "a" * 64, "ID_HASH_KEY": "h" * 64,
              "LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t"}


def test_production_sends_the_cookie_over_https_only_and_says_to_keep_to_https(
        app, client, learn_officer, monkeypatch, tmp_path):
    production = load_settings(str(tmp_path), PRODUCTION)
    development = load_settings(str(tmp_path), {})
    assert production["SESSION_COOKIE_SECURE"] is True
    assert development["SESSION_COOKIE_SECURE"] is False  # plain http on 127.0.0.1
    assert load_settings(str(tmp_path), {**PRODUCTION, "SESSION_COOKIE_SECURE": "0"})[
        "SESSION_COOKIE_SECURE"] is False  # said otherwise, on purpose

    def sign_in_answer():
        token = csrf_of(client)
        return client.post("/console/login", data={
            "username": "learn.np", "password": PASSWORD, "csrf_token": token})

    # development (the tests' app): no Secure attribute, no HSTS
    answer = sign_in_answer()
    assert answer.status_code == 302
    assert "Secure" not in answer.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in answer.headers
    assert "Strict-Transport-Security" not in client.get("/public").headers

    # the app with production's settings
    for name in ("SAMOE_ENV", "SESSION_COOKIE_SECURE"):
        monkeypatch.setitem(app.config, name, production[name])
    secure = app.test_client()
    token = csrf_of(secure)
    answer = secure.post("/console/login", data={
        "username": "learn.np", "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302
    cookie = answer.headers["Set-Cookie"]
    assert "; Secure" in cookie and "HttpOnly" in cookie and "Path=/console" in cookie
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert secure.get("/public").headers["Strict-Transport-Security"] == "max-age=31536000"

