"""Changing one's own password (every signed-in officer): the current one, then the new one
twice. A temporary password from an administrator is changed here. Wrong current passwords
count like wrong sign-ins: after 5 the account is locked and its sessions end. A new password
ends every other session of the account (a cookie copied before stops working); this browser
stays signed in. Audited."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from bot.extensions import db
from bot.i18n import gettext as _
from models import utcnow
from services import accounts, audit

from . import bp
from .security import actor, login_required, sign_in, sign_out

PASSWORD_MAX = 1000


@bp.route("/password", methods=["GET", "POST"], endpoint="password")
@login_required
def password():
    """The "My password" page."""
    if request.method == "GET":
        return render_template("console/password.html", errors={})
    officer = g.console_officer
    current = (request.form.get("current") or "")[:PASSWORD_MAX]
    new = (request.form.get("new") or "")[:PASSWORD_MAX]
    again = (request.form.get("again") or "")[:PASSWORD_MAX]
    errors = {}
    if not accounts.check_password(officer, current):
        locked = accounts.count_failure(db.session, officer, utcnow())
        audit.record(db.session, actor(), "officer.password_change_failed",
                     reason="locked_now" if locked else "wrong_password")
        db.session.commit()
        if locked:
            sign_out()
            flash(_("Too many wrong passwords: the account waits 15 minutes. Please sign in "
                    "again after that."), "error")
            return redirect(url_for(".login"))
        errors["current"] = _("The current password is not right.")
    elif len(new) < accounts.MIN_PASSWORD:
        errors["new"] = _("The new password needs at least %(count)s characters.",
                          count=accounts.MIN_PASSWORD)
    elif new.strip().lower() == officer.username or new == current:
        errors["new"] = _("Please choose a new password that is not your username or your "
                          "current password.")
    elif new != again:
        errors["again"] = _("The two new passwords are not the same. Please type them again.")
    if errors:
        return render_template("console/password.html", errors=errors), 422
    accounts.set_password(officer, new)  # ends every session of the account ...
    audit.record(db.session, actor(), "officer.password_change")
    db.session.commit()
    sign_in(officer)  # ... but this one, which goes on with the new session number
    flash(_("Saved: your password is changed."), "ok")
    return redirect(url_for(".queue"))
