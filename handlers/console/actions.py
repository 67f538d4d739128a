"""The case-work actions of the console: the API's actions (handlers/api/cases.py and
referrals.py), through the same domain services with the officer as the actor.

Every action is confirmed: its form leads to a confirmation page that says exactly what will be
recorded (words for codes, Buddhist-era dates, the day an empty date means), with a button to
confirm (the only POST that saves) and one to go back and edit (to the case page with
everything typed still in the form: `back`). The confirmation page is shown only for a change
that would be saved: the change is first run through its service and undone (`_dry_run`), so
a refusal comes at once, on the case page, with the reason in words and what was typed kept.
Each saved change is audited by the service."""

from __future__ import annotations

import datetime as dt

from flask import current_app, flash, redirect, render_template, request, url_for

from bot.extensions import db
from bot.i18n import gettext as _
from models import BANGKOK, Case, utcnow
from services import access, audit, cases, consent, workflow
from services.cases import SERVICES
from services.workflow import VISIT_OUTCOMES, WorkflowError

from . import bp, present
from .forms import FormError, choice, parse_clock, parse_day
from .pages import load_case, render_case
from .security import actor, error_page, login_required

#: The case page's forms and their fields: what "back" puts into them again.
FORMS = {
    "transition": ("note",), "reopen": ("reason",), "refer": ("to_agency", "reason"),
    "answer": ("reason",), "service": ("code", "provided_on", "note"),
    "visit": ("outcome", "visited_on", "note"), "appointment": ("day", "time", "place",
                                                                "purpose"),
    "note": ("text",), "consent": ("reason",), "link_code": (),
}


def _form(*names: str) -> dict:
    return {name: request.form.get(name, "") for name in names}


def _confirmed() -> bool:
    return request.form.get("confirm") == "1"


def _refused(ref: str, form: str, message: str, status: int):
    """The case page again, with the form's reason and what was typed kept."""
    db.session.rollback()
    case = load_case(ref)
    values = {key: value for key, value in request.form.items() if key != "csrf_token"}
    return render_case(case, errors={form: message}, values={form: values}, status=status,
                       focus=form)


def _refusal(ref: str, form: str, error: Exception):
    """The refused page for an error a change raised (None for any other error)."""
    if isinstance(error, (WorkflowError, consent.ConsentError)):
        return _refused(ref, form, present.error_message(error.code), error.status)
    if isinstance(error, FormError):
        return _refused(ref, form, error.message, error.status)
    return None


def _dry_run(ref: str, form: str, change):
    """Run a change and undo it, before its confirmation page: None when it would be saved,
    else the case page with the reason. Nothing of it stays (not even its audit rows)."""
    try:
        change()
    except (WorkflowError, consent.ConsentError, FormError) as exc:
        return _refusal(ref, form, exc)
    db.session.rollback()
    return None


def _save(ref: str, form: str, change, done: str, anchor: str = "timeline"):
    """Run a change; commit and go back to the case, or show why it was refused."""
    try:
        change()
    except (WorkflowError, consent.ConsentError, FormError) as exc:
        return _refusal(ref, form, exc)
    db.session.commit()
    flash(done, "ok")
    return redirect(url_for(".case_page", ref=ref, _anchor=anchor))


def _confirm(case: Case, form: str, title: str, lines: list[tuple[str, str]], keep: dict,
             button: str, danger: bool = False):
    """The confirmation page: what is about to be recorded, the same form once more (its
    values hidden), and the way back to the case page's `form` with them."""
    return render_template("console/confirm.html", case=case, form=form, title=title,
                           lines=lines, keep=keep, action=request.path, button=button,
                           danger=danger)


@bp.post("/cases/<string:ref>/back", endpoint="back")
@login_required
def back(ref: str):
    """From a confirmation page back to the case page, with what was typed in the form it
    came from (nothing is saved)."""
    case = load_case(ref)
    form = request.form.get("back_to")
    if form not in FORMS:
        return redirect(url_for(".case_page", ref=case.reference))
    values = {name: request.form.get(name, "") for name in FORMS[form]}
    return render_case(case, values={form: values}, focus=form)


def _text_line(text: str | None) -> str:
    return text.strip() if text and text.strip() else "–"


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
    def change():
        workflow.transition(db.session, actor(), case, values["to"], values["note"] or None)

    if not _confirmed():
        stage = present.words(present.OFFICER_STAGE_WORDS, values["to"])
        lines = [(_("Case"), case.reference),
                 (_("From"), present.words(present.OFFICER_STAGE_WORDS, case.stage)),
                 (_("To"), stage)]
        if values["note"].strip():
            lines.append((_("Internal note"), values["note"]))
        return _dry_run(ref, "transition", change) or _confirm(
            case, "transition", _("Move this case to \"%(stage)s\"?", stage=stage), lines,
            values, _("Yes, move it"), danger=values["to"] == "closed")
    return _save(ref, "transition", change,
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
    def change():
        workflow.reopen(db.session, actor(), case, values["reason"])

    if not _confirmed():
        return _dry_run(ref, "reopen", change) or _confirm(
            case, "reopen", _("Reopen this case?"),
            [(_("Case"), case.reference), (_("Reason"), values["reason"])],
            values, _("Yes, reopen it"))
    return _save(ref, "reopen", change,
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
    def change():
        workflow.refer(db.session, actor(), case, values["to_agency"], values["reason"])

    if not _confirmed():
        return _dry_run(ref, "refer", change) or _confirm(
            case, "refer", _("Refer this case to %(agency)s?",
                             agency=present.agency_name(values["to_agency"])),
            [(_("Case"), case.reference), (_("Reason"), values["reason"])],
            values, _("Yes, refer it"))
    return _save(ref, "refer", change,
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
    reference = case.reference

    def change():
        workflow.accept_referral(db.session, actor(), row)

    if not _confirmed():
        return _dry_run(reference, "answer", change) or _confirm(
            case, "answer", _("Take this case for %(agency)s?",
                              agency=present.agency_name(row.to_agency_code)),
            [(_("Case"), case.reference),
             (_("From"), present.agency_name(row.from_agency_code)),
             (_("Reason"), row.reason)], {}, _("Yes, accept it"))
    return _save(reference, "answer", change,
                 _("Accepted: the case is now with your agency."))


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
    reference = case.reference
    if not _confirmed():
        return _dry_run(reference, "answer", lambda: workflow.decline_referral(
            db.session, actor(), row, values["reason"])) or _confirm(
            case, "answer", _("Decline this referral?"),
            [(_("Case"), case.reference), (_("Reason"), values["reason"])],
            values, _("Yes, decline it"), danger=True)
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
#
# A date left empty means today (in Khon Kaen): the confirmation page names the day, and the
# confirmed form carries it, so what is saved is what was shown (even past midnight).

def _today() -> dt.date:
    return workflow.local_today(utcnow())


@bp.post("/cases/<string:ref>/services")
@login_required
def record_service(ref: str):
    """Record a service given to the child (confirmed first)."""
    case = load_case(ref)
    values = _form("code", "provided_on", "note")

    def change():
        code = choice(values["code"], SERVICES, "choose_service")
        day = parse_day(values["provided_on"]) or _today()
        values["provided_on"] = day.isoformat()
        workflow.record_service(db.session, actor(), case, code, day, values["note"] or None)

    if not _confirmed():
        refused = _dry_run(ref, "service", change)
        if refused:
            return refused
        return _confirm(
            case, "service", _("Record this service?"),
            [(_("Case"), case.reference),
             (_("Service"), present.words(present.SERVICE_WORDS, values["code"])),
             (_("Given on"), present.show_day(dt.date.fromisoformat(values["provided_on"]))),
             (_("Note"), _text_line(values["note"])),
             (_("What happens"), _("It goes on the timeline. Parents linked on LINE are told "
                                   "and asked to confirm it."))],
            values, _("Yes, record it"))
    return _save(ref, "service", change, _("Saved: the service is on the timeline. Linked "
                                           "parents are asked to confirm it."))


@bp.post("/cases/<string:ref>/visits")
@login_required
def record_visit(ref: str):
    """Record a home visit (confirmed first)."""
    case = load_case(ref)
    values = _form("outcome", "visited_on", "note")

    def change():
        outcome = choice(values["outcome"], VISIT_OUTCOMES, "choose_outcome")
        day = parse_day(values["visited_on"]) or _today()
        values["visited_on"] = day.isoformat()
        workflow.record_visit(db.session, actor(), case, outcome, day, values["note"] or None)

    if not _confirmed():
        refused = _dry_run(ref, "visit", change)
        if refused:
            return refused
        return _confirm(
            case, "visit", _("Record this home visit?"),
            [(_("Case"), case.reference),
             (_("What the visit found"), present.words(present.VISIT_WORDS,
                                                       values["outcome"])),
             (_("Visited on"), present.show_day(dt.date.fromisoformat(values["visited_on"]))),
             (_("Note"), _text_line(values["note"]))],
            values, _("Yes, record it"))
    return _save(ref, "visit", change, _("Saved: the home visit is on the timeline."))


@bp.post("/cases/<string:ref>/appointments")
@login_required
def set_appointment(ref: str):
    """Set an appointment, a day and a time in Khon Kaen (confirmed first)."""
    case = load_case(ref)
    values = _form("day", "time", "place", "purpose")
    when: list[dt.datetime] = []

    def change():
        day = parse_day(values["day"], required=True)
        clock = parse_clock(values["time"])
        at = dt.datetime.combine(day, clock, tzinfo=BANGKOK)
        values["day"], values["time"] = day.isoformat(), f"{clock:%H:%M}"
        when[:] = [at]
        workflow.set_appointment(db.session, actor(), case, at, values["place"] or None,
                                 values["purpose"] or None)

    if not _confirmed():
        refused = _dry_run(ref, "appointment", change)
        if refused:
            return refused
        return _confirm(
            case, "appointment", _("Set this appointment?"),
            [(_("Case"), case.reference),
             (_("Day"), present.show_day(when[0].date())),
             (_("Time"), present.show_time(when[0])),
             (_("Meeting place"), _text_line(values["place"])),
             (_("Purpose"), _text_line(values["purpose"])),
             (_("What happens"), _("Parents linked on LINE are told the day, the time and "
                                   "the place, and reminded the day before."))],
            values, _("Yes, set it"))
    return _save(ref, "appointment", change,
                 _("Saved: the appointment is set. Linked parents are told."))


@bp.post("/cases/<string:ref>/notes")
@login_required
def add_note(ref: str):
    """Add an internal note, never shown to parents (confirmed first)."""
    case = load_case(ref)
    values = _form("text")

    def change():
        workflow.add_note(db.session, actor(), case, values["text"])

    if not _confirmed():
        return _dry_run(ref, "note", change) or _confirm(
            case, "note", _("Save this internal note?"),
            [(_("Case"), case.reference), (_("Internal note"), values["text"].strip()),
             (_("Who sees it"), _("Officers only: it is never shown to parents."))],
            values, _("Yes, save it"))
    return _save(ref, "note", change, _("Saved: the note is on the timeline."))


# -- consent and the parent's link code ------------------------------------------------------

@bp.post("/cases/<string:ref>/consent/withdraw")
@login_required
def withdraw_consent(ref: str):
    """Record the guardian's withdrawal of consent (confirmed first)."""
    case = load_case(ref)
    values = _form("reason")
    def change():
        consent.withdraw(db.session, actor(), case, values["reason"] or None)

    if not _confirmed():
        lines = [(_("Case"), case.reference)]
        if values["reason"].strip():
            lines.append((_("Reason"), values["reason"]))
        return _dry_run(ref, "consent", change) or _confirm(
            case, "consent", _("Record that the guardian withdrew consent?"), lines, values,
            _("Yes, record it"), danger=True)
    return _save(ref, "consent", change,
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
        return _confirm(case, "link_code", _("Make a new link code for the parent?"),
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
