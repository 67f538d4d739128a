"""Administration in the console (issue #7 point 6), for the `admin` role only (anyone else
gets a page saying so): officer accounts and their scopes, the agencies' follow-up deadlines,
invitation codes, and the audit log.

- Officers (services.accounts): list, create with a temporary password (shown once), change
  role, agency and area, deactivate and reactivate, end a lockout, give a new temporary
  password. An administrator manages the accounts inside their own area (a province admin:
  all of them) and gives only areas inside it; they cannot deactivate or demote themselves.
- Agencies: the deadlines in days (services.deadlines.set_deadlines, which recomputes the open
  cases' deadlines and audits the change). Agencies are the province's: every admin sees
  their deadlines, only an admin whose area is the province changes them.
- Invitation codes (services.invitations): issue one (the code is shown once: only its hash is
  kept), list them with their status, revoke an unused one.
- The audit log: filters (who, action, case reference, dates) and keyset pages, newest first;
  an admin of a district or subdistrict sees the rows about cases located in their area and
  the rows of officers of their area (`audit_scope`), a province admin every row.

Every change is confirmed on a second page (like the case actions), carries the form's CSRF
token, and is written to the audit log with the administrator as the actor.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

import sqlalchemy as sa
from flask import (
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from bot.extensions import db
from bot.i18n import gettext as _
from bot.thai_text import parse_reference
from models import BANGKOK, Agency, Area, AuditEntry, Case, Invitation, Officer, utcnow
from services import accounts, audit, deadlines, invitations, queue
from services.access import area_clause
from services.deadlines import DeadlineError
from services.workflow import WorkflowError

from . import bp
from .forms import FormError, parse_day
from .security import actor, error_page, login_required, sign_in

PAGE_SIZE = 50
ROLES = accounts.ROLES
INVITE_ROLES = invitations.ROLES
INVITE_DAYS = (1, 3, 7, 14, 30)
_DIGITS = re.compile(r"^\d{1,3}$")
FILTER_MAX = 64


def admin_required(view):
    """Signed in, and an administrator; anyone else gets a page saying who may come here."""

    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if actor().role != "admin":
            return error_page(403, _("For administrators only"),
                              _("Only a Samoe administrator can manage accounts, agencies, "
                                "invitation codes and the audit log. Please ask your "
                                "agency's administrator."))
        return view(*args, **kwargs)

    return wrapped


@bp.app_context_processor
def admin_words() -> dict:
    return {
        "role_words": lambda code: {"officer": _("Officer"), "supervisor": _("Supervisor"),
                                    "admin": _("Administrator"),
                                    "volunteer": _("Village health volunteer")}.get(code, code),
        "invitation_status_words": lambda code: {
            "active": _("Can be used"), "used": _("Used"), "expired": _("Expired"),
            "revoked": _("Revoked")}.get(code, code),
        "is_admin": lambda: getattr(g.get("console_actor"), "role", None) == "admin",
    }


# -- shared helpers --------------------------------------------------------------------------

def _mine(code: str | None) -> bool:
    """Whether an area code lies inside the administrator's area."""
    return bool(code) and code.startswith(actor().area_code or "\0")


def _areas() -> list[tuple[Area, list[Area]]]:
    """The administrator's area and everything inside it, as (area, subdistricts) groups."""
    session = db.session
    own = session.get(Area, actor().area_code or "")
    if own is None:
        return []
    if own.level == "subdistrict":
        return [(own, [])]
    districts = [own] if own.level == "district" else list(session.scalars(
        sa.select(Area).where(Area.parent_code == own.code).order_by(Area.code)))
    subs: dict[str, list[Area]] = {}
    for area in session.scalars(
            sa.select(Area).where(Area.level == "subdistrict",
                                  Area.parent_code.in_([d.code for d in districts]))
            .order_by(Area.code)):
        subs.setdefault(area.parent_code, []).append(area)
    groups = [(d, subs.get(d.code, [])) for d in districts]
    return [(own, [])] + groups if own.level == "province" else groups


def _agencies() -> list[Agency]:
    return list(db.session.scalars(sa.select(Agency).order_by(Agency.code)))


def _area_label(code: str | None) -> str:
    area = db.session.get(Area, code or "")
    return f"{area.name_th} ({code})" if area else (code or "")


def _agency_label(code: str | None) -> str:
    agency = db.session.get(Agency, code or "")
    return agency.short_name_th if agency else (code or "")


def _confirmed() -> bool:
    return request.form.get("confirm") == "1"


def _confirm(title: str, lines: list[tuple[str, str]], keep: dict, button: str,
             cancel: str, danger: bool = False):
    return render_template("console/admin_confirm.html", title=title, lines=lines, keep=keep,
                           action=request.path, button=button, cancel=cancel, danger=danger)


def _form(*names: str) -> dict:
    return {name: (request.form.get(name) or "").strip() for name in names}


def _cursor(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return queue.decode_cursor(value)
    except queue.BadCursor:
        flash(_("That page link no longer works: here is the first page."), "info")
        return None


# -- officers --------------------------------------------------------------------------------

def _officer(officer_id: int) -> Officer:
    officer = db.session.get(Officer, officer_id)
    if officer is None or not _mine(officer.area_code):
        raise_not_found()
    return officer


def _kept_signed_in(officer: Officer) -> None:
    """A change that ended the account's sessions (services.accounts.end_sessions), made by
    the administrator on their own account: this browser goes on with the new number."""
    if officer.id == actor().officer_id:
        sign_in(officer)


def raise_not_found():
    from services.access import NotFound

    raise NotFound("officer")


@bp.get("/admin", endpoint="admin")
@admin_required
def admin_home():
    return redirect(url_for(".admin_officers"))


@bp.get("/admin/officers", endpoint="admin_officers")
@admin_required
def officers():
    """The accounts inside the administrator's area, by username, in pages."""
    q = " ".join((request.args.get("q") or "").split())[:FILTER_MAX].lower()
    statement = sa.select(Officer).where(Officer.area_code.like(f"{actor().area_code}%"))
    if q:
        like = f"%{q}%"
        statement = statement.where(sa.or_(Officer.username.like(like),
                                           sa.func.lower(Officer.full_name).like(like)))
    after = request.args.get("after") or ""
    if after:
        statement = statement.where(Officer.username > after[:64])
    rows = list(db.session.scalars(statement.order_by(Officer.username).limit(PAGE_SIZE + 1)))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    next_url = url_for(".admin_officers", q=q or None, after=rows[-1].username) \
        if more else None
    return render_template("console/admin_officers.html", officers=rows, q=q,
                           next_url=next_url, first_url=url_for(".admin_officers", q=q or None)
                           if after else None, now=utcnow(), agency_label=_agency_label,
                           area_label=_area_label)


def _scope_errors(values: dict) -> dict:
    errors = {}
    if values.get("role") not in ROLES:
        errors["role"] = _("Please choose the role.")
    if db.session.get(Agency, values.get("agency") or "") is None:
        errors["agency"] = _("Please choose the agency.")
    if db.session.get(Area, values.get("area") or "") is None or not _mine(values.get("area")):
        errors["area"] = _("Please choose an area inside your own.")
    return errors


def _new_form(values: dict, errors: dict, status: int = 200):
    return render_template("console/admin_officer_new.html", values=values, errors=errors,
                           roles=ROLES, agencies=_agencies(), areas=_areas()), status


@bp.route("/admin/officers/new", methods=["GET", "POST"], endpoint="admin_officer_new")
@admin_required
def officer_new():
    """A new account, with a temporary password shown once (confirmed first)."""
    if request.method == "GET":
        return _new_form({"role": "officer", "area": actor().area_code}, {})
    values = _form("username", "full_name", "role", "agency", "area")
    values["username"] = values["username"].lower()
    errors = _scope_errors(values)
    if not accounts.USERNAME.match(values["username"]):
        errors["username"] = _("Use 2 to 64 small English letters, digits, dots, dashes or "
                               "underscores, e.g. somchai.k")
    elif accounts.find_officer(db.session, values["username"]) is not None:
        errors["username"] = _("This username is taken. Please choose another.")
    if len(values["full_name"]) > 200:
        errors["full_name"] = _("The name is too long (at most 200 characters).")
    if errors:
        return _new_form(values, errors, 422)
    if not _confirmed():
        return _confirm(
            _("Create this account?"),
            [(_("Username"), values["username"]), (_("Name"), values["full_name"]),
             (_("Role"), admin_words()["role_words"](values["role"])),
             (_("Agency"), _agency_label(values["agency"])),
             (_("Area"), _area_label(values["area"]))],
            values, _("Yes, create it"), url_for(".admin_officers"))
    password = accounts.temporary_password()
    officer = accounts.create_officer(db.session, values["username"], password, values["role"],
                                      values["agency"], values["area"],
                                      full_name=values["full_name"] or None)
    audit.record(db.session, actor(), "officer.create", officer_id=officer.id,
                 username=officer.username, role=officer.role, agency=officer.agency_code,
                 area=officer.area_code)
    db.session.commit()
    return render_template("console/admin_password.html", officer=officer, password=password,
                           created=True)


@bp.get("/admin/officers/<int:officer_id>", endpoint="admin_officer")
@admin_required
def officer_page(officer_id: int):
    officer = _officer(officer_id)
    return _officer_page(officer, {}, {})


def _officer_page(officer: Officer, values: dict, errors: dict, status: int = 200):
    return render_template(
        "console/admin_officer.html", officer=officer, values=values, errors=errors,
        roles=ROLES, agencies=_agencies(), areas=_areas(), now=utcnow(),
        agency_label=_agency_label, area_label=_area_label,
        is_self=officer.id == actor().officer_id), status


@bp.post("/admin/officers/<int:officer_id>/scope", endpoint="admin_officer_scope")
@admin_required
def officer_scope(officer_id: int):
    """Change an account's role, agency and area (confirmed first)."""
    officer = _officer(officer_id)
    values = _form("role", "agency", "area")
    errors = _scope_errors(values)
    if officer.id == actor().officer_id and values["role"] != officer.role:
        errors["role"] = _("You cannot change your own role. Ask another administrator.")
    if errors:
        return _officer_page(officer, values, errors, 422)
    back = url_for(".admin_officer", officer_id=officer.id)
    if (values["role"], values["agency"], values["area"]) == (
            officer.role, officer.agency_code, officer.area_code):
        flash(_("Nothing changed."), "info")
        return redirect(back)
    if not _confirmed():
        words = admin_words()["role_words"]
        return _confirm(
            _("Change the scope of %(username)s?", username=officer.username),
            [(_("Role"), f"{words(officer.role)} → {words(values['role'])}"),
             (_("Agency"), f"{_agency_label(officer.agency_code)} → "
                           f"{_agency_label(values['agency'])}"),
             (_("Area"), f"{_area_label(officer.area_code)} → {_area_label(values['area'])}")],
            values, _("Yes, change it"), back)
    changes = accounts.change_scope(db.session, officer, values["role"], values["agency"],
                                    values["area"])
    audit.record(db.session, actor(), "officer.scope", officer_id=officer.id,
                 username=officer.username, changes=changes)
    db.session.commit()
    _kept_signed_in(officer)
    flash(_("Saved: the account's sessions have ended; the new scope applies when it signs "
            "in again."), "ok")
    return redirect(back)


@bp.post("/admin/officers/<int:officer_id>/active", endpoint="admin_officer_active")
@admin_required
def officer_active(officer_id: int):
    """Deactivate or reactivate an account (confirmed first)."""
    officer = _officer(officer_id)
    back = url_for(".admin_officer", officer_id=officer.id)
    active = request.form.get("active") == "1"
    if officer.id == actor().officer_id and not active:
        flash(_("You cannot deactivate your own account. Ask another administrator."),
              "error")
        return redirect(back)
    if bool(officer.active) == active:
        flash(_("Nothing changed."), "info")
        return redirect(back)
    if not _confirmed():
        if active:
            return _confirm(_("Reactivate %(username)s?", username=officer.username),
                            [(_("Username"), officer.username)], {"active": "1"},
                            _("Yes, reactivate it"), back)
        return _confirm(
            _("Deactivate %(username)s?", username=officer.username),
            [(_("Username"), officer.username),
             (_("What happens"), _("The account can no longer sign in, its API tokens stop "
                                   "working and its LINE officer menu closes. Its work and "
                                   "history stay."))],
            {"active": "0"}, _("Yes, deactivate it"), back, danger=True)
    accounts.set_active(officer, active)  # ends its sessions either way
    audit.record(db.session, actor(), "officer.reactivate" if active else "officer.deactivate",
                 officer_id=officer.id, username=officer.username)
    db.session.commit()
    flash(_("Saved: the account is active again.") if active
          else _("Saved: the account is deactivated."), "ok")
    return redirect(back)


@bp.post("/admin/officers/<int:officer_id>/unlock", endpoint="admin_officer_unlock")
@admin_required
def officer_unlock(officer_id: int):
    """End a lockout after wrong passwords (confirmed first)."""
    officer = _officer(officer_id)
    back = url_for(".admin_officer", officer_id=officer.id)
    if not _confirmed():
        return _confirm(_("Let %(username)s try to sign in again now?",
                          username=officer.username),
                        [(_("Username"), officer.username)], {}, _("Yes, end the wait"),
                        back)
    was_locked = accounts.clear_lockout(officer)
    accounts.end_sessions(officer)  # whoever was trying passwords: no session goes on
    audit.record(db.session, actor(), "officer.unlock", officer_id=officer.id,
                 username=officer.username, was_locked=was_locked)
    db.session.commit()
    _kept_signed_in(officer)
    flash(_("Saved: the account can sign in again now."), "ok")
    return redirect(back)


@bp.post("/admin/officers/<int:officer_id>/password", endpoint="admin_officer_password")
@admin_required
def officer_password(officer_id: int):
    """A new temporary password for an account, shown once (confirmed first)."""
    officer = _officer(officer_id)
    back = url_for(".admin_officer", officer_id=officer.id)
    if not _confirmed():
        return _confirm(
            _("Give %(username)s a new temporary password?", username=officer.username),
            [(_("Username"), officer.username),
             (_("What happens"), _("The old password stops working at once. The new one is "
                                   "shown once: give it to the officer in person or by "
                                   "phone."))],
            {}, _("Yes, make a new password"), back, danger=True)
    password = accounts.temporary_password()
    accounts.set_password(officer, password)  # the account's sessions end with the old one
    audit.record(db.session, actor(), "officer.password_reset", officer_id=officer.id,
                 username=officer.username)
    db.session.commit()
    _kept_signed_in(officer)
    return render_template("console/admin_password.html", officer=officer, password=password,
                           created=False)


# -- agencies --------------------------------------------------------------------------------

@bp.get("/admin/agencies", endpoint="admin_agencies")
@admin_required
def agencies():
    """Every agency with its deadlines (its own, or the province's default)."""
    rows = [(agency, deadlines.for_agency(db.session, agency.code)) for agency in _agencies()]
    return render_template("console/admin_agencies.html", rows=rows,
                           defaults=deadlines.DEFAULT_DAYS, may_change=may_set_deadlines())


def _agency(code: str) -> Agency:
    agency = db.session.get(Agency, code)
    if agency is None:
        raise_not_found()
    return agency


def may_set_deadlines() -> bool:
    """Agencies work across the province, so their deadlines are set by an administrator
    whose area is the province; an administrator of a district sees them only."""
    return len(actor().area_code or "") == 2


def _agency_page(agency: Agency, values: dict, errors: dict, status: int = 200):
    return render_template("console/admin_agency.html", agency=agency,
                           current=deadlines.for_agency(db.session, agency.code),
                           defaults=deadlines.DEFAULT_DAYS, values=values, errors=errors,
                           low=deadlines.MIN_DAYS, high=deadlines.MAX_DAYS,
                           may_change=may_set_deadlines()), status


@bp.route("/admin/agencies/<string:code>", methods=["GET", "POST"], endpoint="admin_agency")
@admin_required
def agency_page(code: str):
    """An agency's deadlines: a number of days each, or empty for the province's default
    (confirmed first; the open cases' deadlines are recomputed)."""
    agency = _agency(code)
    if request.method == "GET":
        return _agency_page(agency, {}, {})
    if not may_set_deadlines():
        return error_page(403, _("For the province's administrators only"),
                          _("An agency's deadlines apply to the whole province, so only an "
                            "administrator of the province can change them."))
    values = _form(*deadlines.COLUMNS)
    changes, errors = {}, {}
    for name, typed in values.items():
        typed = typed.translate(_THAI_DIGITS)
        if not typed:
            changes[name] = None
        elif _DIGITS.match(typed) and deadlines.MIN_DAYS <= int(typed) <= deadlines.MAX_DAYS:
            changes[name] = int(typed)
        else:
            errors[name] = _("A whole number of days from %(low)s to %(high)s, or empty for "
                             "the province's default.", low=deadlines.MIN_DAYS,
                             high=deadlines.MAX_DAYS)
    if errors:
        return _agency_page(agency, values, errors, 422)
    current = deadlines.for_agency(db.session, agency.code)
    changes = {name: value for name, value in changes.items()
               if value != (getattr(current, name) if name in current.own else None)}
    back = url_for(".admin_agency", code=agency.code)
    if not changes:
        flash(_("Nothing changed."), "info")
        return redirect(back)
    if not _confirmed():
        labels = deadline_labels()
        lines = [(labels[name], f"{getattr(current, name)} → "
                  f"{value if value is not None else deadlines.DEFAULT_DAYS[name]} "
                  + _("days")) for name, value in changes.items()]
        lines.append((_("What happens"), _("The deadlines of this agency's open cases are "
                                           "worked out again at once.")))
        return _confirm(_("Change the deadlines of %(agency)s?", agency=agency.short_name_th),
                        lines, values, _("Yes, change them"), back)
    try:
        _after, changed = deadlines.set_deadlines(db.session, actor(), agency.code, changes)
    except (DeadlineError, WorkflowError):
        db.session.rollback()
        return _agency_page(_agency(code), values, {"form": _(
            "This could not be saved. Please check what you typed and try again.")}, 422)
    db.session.commit()
    flash(_("Saved: %(count)s open cases got a new deadline.", count=changed), "ok")
    return redirect(back)


_THAI_DIGITS = str.maketrans({chr(0x0E50 + i): str(i) for i in range(10)})


def deadline_labels() -> dict:
    return {"verify": _("Check a new report"), "referral": _("Answer a referral"),
            "first_action": _("Act after accepting a referral"),
            "visit": _("Between home visits")}


@bp.app_context_processor
def deadline_words() -> dict:
    return {"deadline_labels": deadline_labels}


# -- invitation codes ------------------------------------------------------------------------

def _invitation_scope():
    """Invitations for places inside the administrator's area."""
    area = f"{actor().area_code}%"
    return sa.or_(Invitation.subdistrict_code.like(area), Invitation.area_code.like(area))


def _invitations_page(values: dict, errors: dict, status: int = 200):
    after = _cursor(request.args.get("cursor"))
    statement = sa.select(Invitation).where(_invitation_scope())
    if after is not None:
        statement = statement.where(Invitation.id < after)
    rows = list(db.session.scalars(statement.order_by(Invitation.id.desc())
                                   .limit(PAGE_SIZE + 1)))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    now = utcnow()
    listed = [(row, invitations.status(row, now)) for row in rows]
    linked = {o.id: o.username for o in db.session.scalars(
        sa.select(Officer).where(Officer.id.in_([r.officer_id for r in rows
                                                 if r.officer_id])))}
    return render_template(
        "console/admin_invitations.html", listed=listed, values=values, errors=errors,
        agencies=_agencies(), areas=_areas(), roles=INVITE_ROLES, days=INVITE_DAYS,
        linked=linked, area_label=_area_label, agency_label=_agency_label,
        next_url=url_for(".admin_invitations", cursor=queue.encode_cursor(rows[-1].id))
        if more else None,
        first_url=url_for(".admin_invitations") if after is not None else None), status


@bp.get("/admin/invitations", endpoint="admin_invitations")
@admin_required
def invitation_list():
    return _invitations_page({"role": "volunteer", "days": "14"}, {})


@bp.post("/admin/invitations", endpoint="admin_invitation_issue")
@admin_required
def invitation_issue():
    """Issue a code (confirmed first); the code is shown once, on the answer to this form."""
    values = _form("role", "subdistrict", "agency", "area", "days", "username")
    errors = {}
    officer = None
    if values["role"] not in INVITE_ROLES:
        errors["role"] = _("Please choose who the code is for.")
    elif values["role"] == "volunteer":
        place = db.session.get(Area, values["subdistrict"])
        if place is None or place.level != "subdistrict" or not _mine(place.code):
            errors["subdistrict"] = _("Please choose a subdistrict inside your area.")
    else:
        if values["username"]:
            officer = accounts.find_officer(db.session, values["username"])
            if officer is None or not _mine(officer.area_code):
                errors["username"] = _("There is no such account in your area.")
            else:
                values["agency"], values["area"] = officer.agency_code, officer.area_code
        if officer is None and not errors:
            errors.update({k: v for k, v in _scope_errors(
                {**values, "role": "officer"}).items() if k != "role"})
    if values["days"] not in {str(d) for d in INVITE_DAYS}:
        errors["days"] = _("Please choose how long the code stays valid.")
    if errors:
        return _invitations_page(values, errors, 422)
    days = int(values["days"])
    if values["role"] == "volunteer":
        scope = [(_("Subdistrict"), _area_label(values["subdistrict"]))]
    else:
        scope = [(_("Agency"), _agency_label(values["agency"])),
                 (_("Area"), _area_label(values["area"]))]
        if officer is not None:
            scope.append((_("Account"), officer.username))
    if not _confirmed():
        return _confirm(
            _("Issue an invitation code?"),
            [(_("For"), admin_words()["role_words"](values["role"])), *scope,
             (_("Valid for"), _("%(days)s days", days=days))],
            values, _("Yes, issue the code"), url_for(".admin_invitations"))
    volunteer = values["role"] == "volunteer"
    code, invitation = invitations.issue(
        db.session, current_app.config["SECRET_KEY"], values["role"],
        subdistrict=values["subdistrict"] if volunteer else None,
        agency=None if volunteer else values["agency"],
        area=None if volunteer else values["area"], valid_for=dt.timedelta(days=days),
        officer_id=officer.id if officer is not None else None)
    audit.record(db.session, actor(), "invitation.issue", invitation_id=invitation.id,
                 role=invitation.role, subdistrict=invitation.subdistrict_code,
                 agency=invitation.agency_code, area=invitation.area_code,
                 officer_id=invitation.officer_id, expires_at=invitation.expires_at.isoformat())
    db.session.commit()
    return render_template("console/admin_invitation_code.html", code=code,
                           invitation=invitation, lines=scope)


@bp.post("/admin/invitations/<int:invitation_id>/revoke", endpoint="admin_invitation_revoke")
@admin_required
def invitation_revoke(invitation_id: int):
    """Revoke an unused code (confirmed first): typing it on LINE no longer registers."""
    invitation = db.session.scalar(sa.select(Invitation).where(
        Invitation.id == invitation_id, _invitation_scope()))
    if invitation is None:
        raise_not_found()
    back = url_for(".admin_invitations")
    if invitations.status(invitation) in ("used", "revoked"):
        flash(_("This code was used or revoked already: nothing changed."), "info")
        return redirect(back)
    if not _confirmed():
        return _confirm(
            _("Revoke this invitation code?"),
            [(_("Code number"), str(invitation.id)),
             (_("For"), admin_words()["role_words"](invitation.role)),
             (_("Place"), _area_label(invitation.subdistrict_code or invitation.area_code))],
            {}, _("Yes, revoke it"), back, danger=True)
    done = invitations.revoke(db.session, invitation)
    if done:
        audit.record(db.session, actor(), "invitation.revoke", invitation_id=invitation.id,
                     role=invitation.role)
    db.session.commit()
    flash(_("Saved: the code is revoked and can no longer be used.") if done
          else _("This code was used or revoked already: nothing changed."),
          "ok" if done else "info")
    return redirect(back)


# -- the audit log ---------------------------------------------------------------------------

def audit_filters(args) -> tuple[dict, dict, dict]:
    """The audit page's filters from the query string: (values for the form, the clauses'
    inputs, errors)."""
    values = {name: " ".join((args.get(name) or "").split())[:FILTER_MAX]
              for name in ("actor", "action", "reference", "since", "until")}
    errors: dict = {}
    given: dict = {}
    if values["actor"]:
        given["actor"] = values["actor"]
    if values["action"]:
        given["action"] = values["action"].lower()
    if values["reference"]:
        reference = parse_reference(values["reference"])
        if reference is None:
            errors["reference"] = _("This is not a case reference. Type it like "
                                    "KK-2569-00042.")
        else:
            given["reference"] = values["reference"] = reference
    for name in ("since", "until"):
        try:
            day = parse_day(values[name])
        except FormError as exc:
            errors[name] = exc.message
            continue
        if day is not None:
            given[name] = day
    return values, given, errors


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), BANGKOK).astimezone(dt.UTC)


def audit_scope(area_code: str | None):
    """The audit rows an administrator of `area_code` may read: every row for the province's
    (a two-digit area); else the rows about a case located in the area (`area_clause`) and
    the rows of an officer whose account is in the area (by its area now). The rest (other
    areas' cases and officers, LINE users and the system without a case, sign-ins with an
    unknown username) is the province's."""
    area = area_code or ""
    if len(area) == 2:
        return sa.true()
    if not area:
        return sa.false()
    cases_here = sa.select(Case.id).where(area_clause(area))
    officers_here = sa.select(Officer.username).where(Officer.area_code.startswith(area))
    return sa.or_(AuditEntry.case_id.in_(cases_here),
                  sa.and_(AuditEntry.actor_kind == "officer",
                          AuditEntry.actor.in_(officers_here)))


@bp.get("/admin/audit", endpoint="admin_audit")
@admin_required
def audit_log():
    """The audit log of the administrator's area (`audit_scope`), newest first, filtered, in
    keyset pages (reading it is audited)."""
    values, given, errors = audit_filters(request.args)
    statement = sa.select(AuditEntry).where(audit_scope(actor().area_code))
    if "actor" in given:
        statement = statement.where(AuditEntry.actor == given["actor"])
    if "action" in given:
        statement = statement.where(AuditEntry.action.startswith(given["action"],
                                                                 autoescape=True))
    if "reference" in given:
        # a case outside the area is looked up like a missing one: nothing is listed
        case_id = db.session.scalar(sa.select(Case.id).where(
            Case.reference == given["reference"], area_clause(actor().area_code or "\0")))
        statement = statement.where(AuditEntry.case_id == case_id if case_id else sa.false())
    if "since" in given:
        statement = statement.where(AuditEntry.at >= _start_of(given["since"]))
    if "until" in given:
        statement = statement.where(
            AuditEntry.at < _start_of(given["until"] + dt.timedelta(days=1)))
    if errors:
        statement = statement.where(sa.false())
    cursor = request.args.get("cursor") or None
    before = _cursor(cursor)
    if before is not None:
        statement = statement.where(AuditEntry.id < before)
    rows = list(db.session.scalars(statement.order_by(AuditEntry.id.desc())
                                   .limit(PAGE_SIZE + 1)))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    keep = {k: v for k, v in values.items() if v}
    audit.record(db.session, actor(), "audit.list",
                 filters={k: str(v) for k, v in given.items()}, cursor=cursor,
                 shown=len(rows))
    db.session.commit()
    return render_template(
        "console/admin_audit.html", rows=rows, values=values, errors=errors,
        next_url=url_for(".admin_audit", **keep, cursor=queue.encode_cursor(rows[-1].id))
        if more else None,
        first_url=url_for(".admin_audit", **keep) if before is not None else None,
        detail_text=detail_text), 422 if errors else 200


def detail_text(entry: AuditEntry) -> str:
    """A row's detail in one line (the via and reference are shown in their own columns)."""
    import json

    shown = {k: v for k, v in (entry.detail or {}).items() if k not in ("via", "reference")}
    text = json.dumps(shown, ensure_ascii=False, separators=(", ", ": "), default=str)
    return text if len(text) <= 400 else text[:399] + "…"
