"""Signing in and out, and the language switch.

Five wrong passwords in a row lock the account for 15 minutes (services.accounts'
MAX_LOGIN_FAILURES and LOGIN_LOCK_FOR), counted in the database by atomic updates, so
attempts made at the same time all count. Every refusal gives the same answer, whether the
username is unknown, the password wrong, the account locked or deactivated, so the page never
tells which accounts exist; each attempt is written to the audit log. Signing out ends every
session of the account (services.accounts.end_sessions), on any browser."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, g, redirect, render_template, request, session, url_for

from bot.extensions import db
from bot.i18n import SUPPORTED
from bot.i18n import gettext as _
from models import Officer, utcnow
from services import accounts, audit
from services.access import Actor

from . import bp
from .security import login_required, sign_in, sign_out

#: Verified instead of a real hash for an unknown username, so it takes as long as a real one.
_DUMMY_HASH = accounts.hash_password("not-a-real-password-0")
USERNAME_MAX = 64
PASSWORD_MAX = 1000


def _safe_next(target: str | None) -> str:
    """Only a path inside the console (never another site) is followed after login."""
    if not target:
        return url_for(".queue")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console") \
            or target.startswith("//") or "\\" in target:
        return url_for(".queue")
    return target


def _attempt_actor(username: str, officer=None) -> Actor:
    if officer is not None:
        return Actor.for_officer(officer, via="console", ip=request.remote_addr,
                                 user_agent=request.headers.get("User-Agent"))
    shown = username if accounts.USERNAME.match(username) else "?"
    return Actor(kind="officer", name=shown[:USERNAME_MAX], via="console",
                 ip=request.remote_addr,
                 user_agent=(request.headers.get("User-Agent") or "")[:300] or None)


def authenticate(username: str, password: str):
    """The officer if the username and password are right and the account may sign in now;
    None otherwise (after counting the failure and auditing the attempt).

    The attempt is counted (one atomic UPDATE, committed at once) before the password is
    checked, so many attempts at once cannot try more than MAX_LOGIN_FAILURES passwords
    between two locks; the slow hash is checked outside any transaction (on SQLite a write
    transaction would hold the database's lock meanwhile)."""
    now = utcnow()
    officer = accounts.find_officer(db.session, username) if username else None
    if officer is None:
        accounts.check_password(Officer(password_hash=_DUMMY_HASH), password or "-")
        audit.record(db.session, _attempt_actor(username), "console.login_failed",
                     reason="unknown_user")
        return None
    who = _attempt_actor(username, officer)
    attempt = accounts.begin_attempt(db.session, officer, now)
    if attempt is None or attempt > accounts.MAX_LOGIN_FAILURES:
        if attempt is not None:  # more at once than may be tried: locked now
            accounts.lock(db.session, officer, now)
        audit.record(db.session, who, "console.login_failed", reason="locked")
        return None
    db.session.commit()
    right = accounts.check_password(officer, password)
    if right and officer.active:
        accounts.signed_in(db.session, officer, now)
        audit.record(db.session, who, "console.login")
        return officer
    reason = "inactive"
    if not right:
        reason = "wrong_password"
        if attempt >= accounts.MAX_LOGIN_FAILURES:
            accounts.lock(db.session, officer, now)
            reason = "locked_now"
    audit.record(db.session, who, "console.login_failed", reason=reason)
    return None


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login page; a right username and password start a session."""
    if request.method == "GET":
        if g.get("console_officer") is not None:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("console/login.html", username="",
                               next=request.args.get("next", ""))
    username = (request.form.get("username") or "").strip().lower()[:USERNAME_MAX]
    password = (request.form.get("password") or "")[:PASSWORD_MAX]
    officer = authenticate(username, password)
    db.session.commit()
    if officer is None:
        return render_template(
            "console/login.html", username=username, next=request.form.get("next", ""),
            error=_("The username or password is not right. After 5 wrong tries in a row "
                    "the account waits 15 minutes.")), 401
    sign_in(officer)
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout():
    """End the session (a POST with the form's token, so no other page can sign you out)."""
    officer = g.get("console_officer")
    if officer is not None:
        accounts.end_sessions(officer)  # a copy of this session's cookie stops working too
        audit.record(db.session, _attempt_actor(officer.username, officer), "console.logout")
        db.session.commit()
    sign_out()
    flash(_("You have signed out."), "info")
    return redirect(url_for(".login"))


@bp.post("/language")
def language():
    """Switch the console's language (Thai or English), kept in the session."""
    chosen = request.form.get("lang")
    if chosen in SUPPORTED:
        session["lang"] = chosen
    return redirect(_safe_next(request.form.get("next")))


@bp.get("/")
@login_required
def home():
    return redirect(url_for(".queue"))
