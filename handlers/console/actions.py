"""The case-work actions of the console: the API's actions (handlers/api/cases.py and
referrals.py), through the same domain services with the officer as the actor.

Changes of stage or owner (a transition, reopening, a referral and its answer, a withdrawal of
consent) and a parent link code are asked once more on a confirmation page; records (a
service, an appointment, a visit, a note) are saved from their form. Each saved change is
audited by the service; a refused one brings the case page back with the reason in words and
everything typed still in the form."""

from __future__ import annotations

import datetime as dt

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bot.extensions import db
from models import BANGKOK, Case, utcnow
from services import access, audit, cases, consent, workflow
from services.cases import SERVICES
from services.workflow import VISIT_OUTCOMES, WorkflowError

from . import bp, present
from .forms import FormError, choice, parse_clock, parse_day
from .pages import load_case, render_case
from .security import actor, error_page, login_required


def _form(*names: str) -> dict:
    return {name: request.form.get(name, "") for name in names}


def _confirmed() -> bool:
    return request.form.get("confirm") == "1"


def _refused(ref: str, form: str, message: str, status: int):
    """The case page again, with the form's reason and what was typed kept."""
    db.session.rollback()
    case = load_case(ref)
    values = {key: value for key, value in request.form.items() if key != "csrf_token"}
    return render_case(case, errors={form: message}, values={form: values}, status=status)


def _save(ref: str, form: str, change, done: str, anchor: str = "timeline"):
    """Run a change; commit and go back to the case, or show why it was refused."""
    try:
        change()
    except WorkflowError as exc:
        return _refused(ref, form, present.error_message(exc.code), exc.status)
    except consent.ConsentError as exc:
        return _refused(ref, form, present.error_message(exc.code), exc.status)
    except FormError as exc:
        return _refused(ref, form, exc.message, exc.status)
    db.session.commit()
    flash(done, "ok")
    return redirect(url_for(".case_page", ref=ref, _anchor=anchor))


def _confirm(case: Case, title: str, lines: list[tuple[str, str]], keep: dict,
             button: str, danger: bool = False):
    """The confirmation page: what is about to happen, and the same form once more."""
    return render_template("console/confirm.html", case=case, title=title, lines=lines,
                           keep=keep, action=request.path, button=button, danger=danger)


# -- stages ----------------------------------------------------------------------------------

@bp.post("/cases/<string:ref>/transition")
@login_required
def transition(ref: str):
    """Move the case to another stage (confirmed first)."""
    case = load_case(ref)
    values = _form("to", "note")
    if values["to"] not in workflow.TRANSITIONS.get(case.stage, ()):
        return _refused(ref, "transition", present.error_message("transition_not_allowed"),
                        409)
    if not _confirmed():
        stage = present.words(present.OFFICER_STAGE_WORDS, values["to"])
        lines = [(_("Case"), case.reference),
                 (_("From"), present.words(present.OFFICER_STAGE_WORDS, case.stage)),
                 (_("To"), stage)]
        if values["note"].strip():
            lines.append((_("Internal note"), values["note"]))
        return _confirm(case, _("Move this case to \"%(stage)s\"?", stage=stage), lines,
                        values, _("Yes, move it"), danger=values["to"] == "closed")
    return _save(ref, "transition", lambda: workflow.transition(
        db.session, actor(), case, values["to"], values["note"] or None),
        _("Saved: the case is now \"%(stage)s\".",
          stage=present.words(present.OFFICER_STAGE_WORDS, values["to"])))


@bp.post("/cases/<string:ref>/reopen")
@login_required
def reopen(ref: str):
    """Reopen a closed case, with a reason (confirmed first)."""
    case = load_case(ref)
    values = _form("reason")
    if not values["reason"].strip():
        return _refused(ref, "reopen", present.error_message("reason_required"), 422)
    if not _confirmed():
        return _confirm(case, _("Reopen this case?"),
                        [(_("Case"), case.reference), (_("Reason"), values["reason"])],
                        values, _("Yes, reopen it"))
    return _save(ref, "reopen", lambda: workflow.reopen(db.session, actor(), case,
                                                        values["reason"]),
                 _("Saved: the case is open again, at \"%(stage)s\".",
                   stage=present.words(present.OFFICER_STAGE_WORDS, "verifying")))


# -- referrals -------------------------------------------------------------------------------

@bp.post("/cases/<string:ref>/refer")
@login_required
def refer(ref: str):
    """Refer the case to another agency, with a reason (confirmed first)."""
    case = load_case(ref)
    values = _form("to_agency", "reason")
    if not values["to_agency"]:
        return _refused(ref, "refer", FormError("choose_agency").message, 422)
    if not values["reason"].strip():
        return _refused(ref, "refer", present.error_message("reason_required"), 422)
    if not _confirmed():
        return _confirm(case, _("Refer this case to %(agency)s?",
                                agency=present.agency_name(values["to_agency"])),
                        [(_("Case"), case.reference), (_("Reason"), values["reason"])],
                        values, _("Yes, refer it"))
    return _save(ref, "refer", lambda: workflow.refer(db.session, actor(), case,
                                                      values["to_agency"], values["reason"]),
                 _("Sent: %(agency)s has been asked to take the case.",
                   agency=present.agency_name(values["to_agency"])))


def _referral(referral_id: int):
    """The referral, if the officer may see its case (else the 404 page); a referral to their
    agency that a withdrawal of consent cancelled raises `consent_withdrawn`."""
    if not 0 < referral_id <= 2**63 - 1:
        raise access.NotFound(str(referral_id))
    try:
        return access.get_referral(db.session, actor(), referral_id)
    except access.NotFound:
        workflow.refuse_cancelled(db.session, actor(), referral_id)
        raise


def _cancelled_page(exc: WorkflowError):
    return error_page(exc.status, _("This referral was cancelled"),
                      present.error_message(exc.code))


@bp.post("/referrals/<int:referral_id>/accept")
@login_required
def accept(referral_id: int):
    """Accept a referral: the officer's agency takes the case (confirmed first)."""
    try:
        row = _referral(referral_id)
    except WorkflowError as exc:
        return _cancelled_page(exc)
    case = row.case
    if not _confirmed():
        return _confirm(case, _("Take this case for %(agency)s?",
                                agency=present.agency_name(row.to_agency_code)),
                        [(_("Case"), case.reference),
                         (_("From"), present.agency_name(row.from_agency_code)),
                         (_("Reason"), row.reason)], {}, _("Yes, accept it"))
    return _save(case.reference, "answer", lambda: workflow.accept_referral(
        db.session, actor(), row), _("Accepted: the case is now with your agency."))


@bp.post("/referrals/<int:referral_id>/decline")
@login_required
def decline(referral_id: int):
    """Decline a referral, with a reason (confirmed first)."""
    try:
        row = _referral(referral_id)
    except WorkflowError as exc:
        return _cancelled_page(exc)
    case = row.case
    values = _form("reason")
    if not values["reason"].strip():
        return _refused(case.reference, "answer", present.error_message("reason_required"),
                        422)
    if not _confirmed():
        return _confirm(case, _("Decline this referral?"),
                        [(_("Case"), case.reference), (_("Reason"), values["reason"])],
                        values, _("Yes, decline it"), danger=True)
    reference = case.reference
    try:
        workflow.decline_referral(db.session, actor(), row, values["reason"])
    except WorkflowError as exc:
        return _refused(reference, "answer", present.error_message(exc.code), exc.status)
    db.session.commit()
    flash(_("Declined: the case went back to %(agency)s.",
            agency=present.agency_name(row.from_agency_code)), "ok")
    try:  # the case may no longer be ours to see
        access.get_case(db.session, actor(), reference)
    except access.NotFound:
        return redirect(url_for(".queue"))
    return redirect(url_for(".case_page", ref=reference, _anchor="timeline"))


# -- records ---------------------------------------------------------------------------------

@bp.post("/cases/<string:ref>/services")
@login_required
def record_service(ref: str):
    """Record a service given to the child."""
    case = load_case(ref)
    values = _form("code", "provided_on", "note")

    def change():
        code = choice(values["code"], SERVICES, "choose_service")
        workflow.record_service(db.session, actor(), case, code,
                                parse_day(values["provided_on"]), values["note"] or None)

    return _save(ref, "service", change, _("Saved: the service is on the timeline. Linked "
                                           "parents are asked to confirm it."))


@bp.post("/cases/<string:ref>/visits")
@login_required
def record_visit(ref: str):
    """Record a home visit."""
    case = load_case(ref)
    values = _form("outcome", "visited_on", "note")

    def change():
        outcome = choice(values["outcome"], VISIT_OUTCOMES, "choose_outcome")
        workflow.record_visit(db.session, actor(), case, outcome,
                              parse_day(values["visited_on"]), values["note"] or None)

    return _save(ref, "visit", change, _("Saved: the home visit is on the timeline."))


@bp.post("/cases/<string:ref>/appointments")
@login_required
def set_appointment(ref: str):
    """Set an appointment (a day and a time in Khon Kaen)."""
    case = load_case(ref)
    values = _form("day", "time", "place", "purpose")

    def change():
        day = parse_day(values["day"], required=True)
        at = dt.datetime.combine(day, parse_clock(values["time"]), tzinfo=BANGKOK)
        workflow.set_appointment(db.session, actor(), case, at, values["place"] or None,
                                 values["purpose"] or None)

    return _save(ref, "appointment", change,
                 _("Saved: the appointment is set. Linked parents are told."))


@bp.post("/cases/<string:ref>/notes")
@login_required
def add_note(ref: str):
    """Add an internal note (never shown to parents)."""
    case = load_case(ref)
    values = _form("text")
    return _save(ref, "note", lambda: workflow.add_note(db.session, actor(), case,
                                                        values["text"]),
                 _("Saved: the note is on the timeline."))


# -- consent and the parent's link code ------------------------------------------------------

@bp.post("/cases/<string:ref>/consent/withdraw")
@login_required
def withdraw_consent(ref: str):
    """Record the guardian's withdrawal of consent (confirmed first)."""
    case = load_case(ref)
    values = _form("reason")
    if not _confirmed():
        lines = [(_("Case"), case.reference)]
        if values["reason"].strip():
            lines.append((_("Reason"), values["reason"]))
        return _confirm(case, _("Record that the guardian withdrew consent?"), lines, values,
                        _("Yes, record it"), danger=True)
    return _save(ref, "consent", lambda: consent.withdraw(db.session, actor(), case,
                                                          values["reason"] or None),
                 _("Saved: consent withdrawn. The case is no longer shared with other "
                   "agencies."))


@bp.post("/cases/<string:ref>/link-code")
@login_required
def link_code(ref: str):
    """Issue a parent link code (confirmed first), shown once."""
    case = load_case(ref)
    if not access.may_change(actor(), case):
        return _refused(ref, "link_code", present.error_message("not_owner"), 409)
    if not _confirmed():
        return _confirm(case, _("Make a new link code for the parent?"),
                        [(_("Case"), case.reference)], {}, _("Yes, make a code"))
    now = utcnow()
    code = cases.issue_link_code(db.session, current_app.config["SECRET_KEY"], case,
                                 actor().name, now=now)
    expires_at = now + cases.LINK_CODE_VALID_FOR
    audit.record(db.session, actor(), "case.link_code", case,
                 expires_at=expires_at.astimezone(dt.UTC).isoformat())
    db.session.commit()
    return render_template("console/link_code.html", case=case, code=code,
                           expires_at=expires_at)
