"""The console's guards: who is signed in (still active, not idle too long, a session the
account has not ended), the CSRF token of every form, the security headers of every answer,
and the error pages (Thai HTML, never the API's JSON)."""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import secrets
import time

from flask import (
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import refresh
from werkzeug.exceptions import HTTPException

from bot.extensions import db
from bot.i18n import gettext as _
from models import Officer
from services.access import Actor, NotFound

from . import bp

log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
STATIC_CACHE = "public, max-age=86400"
#: Sent in production only: browsers then come back over HTTPS for a year.
HSTS = "max-age=31536000"


class CsrfRefused(HTTPException):
    """A POST without this session's CSRF token."""

    code = 400
    description = "CSRF token missing or wrong"


def csrf_token() -> str:
    """This session's CSRF token (made on first use); every form carries it."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    expected = session.get("csrf")
    given = request.form.get(CSRF_FIELD, "")
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise CsrfRefused()


def idle_limit() -> float:
    return float(current_app.config.get("CONSOLE_IDLE_MINUTES", 30)) * 60


def sign_in(officer: Officer) -> None:
    """A new session for `officer` (nothing of the one before is kept but the language),
    holding the account's session number (`Officer.session_generation`)."""
    lang = session.get("lang")
    session.clear()
    session["oid"] = officer.id
    session["gen"] = officer.session_generation or 0
    session["seen"] = int(time.time())
    session["csrf"] = secrets.token_urlsafe(32)
    if lang:
        session["lang"] = lang


def sign_out() -> None:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


@bp.before_request
def load_officer() -> None:
    """Check the CSRF token of a POST, and find the signed-in officer: still active, not
    idle for longer than CONSOLE_IDLE_MINUTES, and the session still the account's (its
    number is the account's `session_generation`: signing out, a new password, a changed
    scope or a deactivation raise it); else the session ends.

    The session is a signed cookie, so the server keeps nothing of it: a copy of the cookie
    works wherever it is sent, until the account's number moves on."""
    g.console_officer = None
    g.console_actor = None
    refresh()  # the language is this request's (never one cached by an outer context)
    if request.endpoint == "console.static":
        return
    if request.method == "POST":
        check_csrf()
    officer_id = session.get("oid")
    if officer_id is None:
        return
    now = int(time.time())
    if now - int(session.get("seen", 0)) > idle_limit():
        sign_out()
        flash(_("You were signed out after a while without activity. Please sign in "
                "again."), "info")
        return
    officer = db.session.get(Officer, officer_id)
    if officer is None or not officer.active:
        sign_out()
        return
    if session.get("gen") != (officer.session_generation or 0):
        sign_out()
        flash(_("This sign-in has ended: the account was signed out, its password or its "
                "access changed. Please sign in again."), "info")
        return
    if now - int(session.get("seen", 0)) > 30:  # coarse, so each click does not rewrite it
        session["seen"] = now
    g.console_officer = officer
    g.console_actor = Actor.for_officer(officer, via="console", ip=request.remote_addr,
                                        user_agent=request.headers.get("User-Agent"))


def login_required(view):
    """The view needs a signed-in officer; otherwise the login page (then back here)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("console_officer") is None:
            target = request.full_path if request.method == "GET" else url_for(".queue")
            return redirect(url_for(".login", next=target.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def actor() -> Actor:
    return g.console_actor


@bp.after_request
def headers(response):
    """Security headers on every console answer; pages are never cached (personal data)."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if current_app.config.get("SAMOE_ENV") == "production":
        # production is served over HTTPS only (development is plain http on 127.0.0.1)
        response.headers["Strict-Transport-Security"] = HSTS
    if request.endpoint in ("console.static", "console.font"):
        response.headers.setdefault("Cache-Control", STATIC_CACHE)
    else:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    response.vary.add("Cookie")
    return response


@bp.teardown_request
def end_transaction(_error=None) -> None:
    """Nothing stays open after a page: what a view meant to keep it committed, and a page
    that only read (or a lazy load while rendering) leaves no transaction holding a lock,
    even when the request ran inside an application context that outlives it."""
    db.session.remove()


@bp.app_context_processor
def template_helpers() -> dict:
    return {"csrf_token": csrf_token, "CSRF_FIELD": CSRF_FIELD}


def error_page(status: int, title: str, message: str):
    db.session.rollback()
    return render_template("console/error.html", status=status, title=title,
                           message=message), status


@bp.errorhandler(CsrfRefused)
def csrf_refused(_error):
    return error_page(400, _("This form has expired"),
                      _("For your safety the form was not sent. Go back, reload the page and "
                        "try again."))


@bp.errorhandler(NotFound)
@bp.errorhandler(404)
def not_found(_error):
    return error_page(404, _("Not found"),
                      _("There is no such page or case within your area and agency."))


@bp.errorhandler(400)
def bad_request(_error):
    return error_page(400, _("Something in the request is not right"),
                      _("Go back and try again."))


@bp.errorhandler(405)
def method_not_allowed(_error):
    return error_page(405, _("Not found"),
                      _("There is no such page or case within your area and agency."))


@bp.errorhandler(500)
def server_error(error):
    log.error("console error on %s %s: %s", request.method, request.path,
              type(getattr(error, "original_exception", error)).__name__)
    return error_page(500, _("Something went wrong on our side"),
                      _("Nothing was saved. Please try again in a moment."))


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
