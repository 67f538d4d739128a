"""A guardian's data-subject rights in the console (services.subject_rights; issue 11, point 2).

On a case page, those in charge of the case (the owning agency's officers, the area's
supervisors and administrators) can:

- export everything held about the child: a JSON file to download, or a printable page in
  Thai (dates in the Buddhist era, the console's own Thai font, photos included); each export
  is written to the audit log;
- ask for the erasure of the child's personal data, with the guardian's reason, asked once
  more on a confirmation page.

A supervisor or administrator sees the requests of their area that wait for a decision
(/console/erasure-requests) and approves or rejects each one (asked once more; never their own
request). Approval erases at once. The printable page is also what the API's `export.html`
answers, so both read the same.
"""

from __future__ import annotations

import json
import re

from flask import Response, flash, g, redirect, render_template, request, url_for

from bot.extensions import db
from bot.i18n import force_locale
from bot.i18n import gettext as _
from bot.i18n import lazy_gettext as _l
from bot.thai_text import thai_date
from handlers.notifications import words
from models import Case, CasePhoto, ErasureRequest
from services import access, audit, subject_rights
from services.subject_rights import RightsError
from services.workflow import WorkflowError

from . import bp, present
from .pages import load_case
from .security import actor, error_page, login_required

PURPOSE_WORDS = {
    "share_with_agencies": _l("Share with the agencies that help children"),
    "photo": _l("Keep a photo of the child"),
    "follow_up_contact": _l("Contact the family to follow up"),
}
CHANNEL_WORDS = {
    "line_volunteer": _l("Read out by the volunteer, on LINE"),
    "line_parent": _l("By the parent, on LINE"),
}
ACTION_WORDS = {
    "case.read": _l("Case opened"),
    "case.reveal": _l("Personal data shown"),
    "case.photo": _l("Photo viewed"),
    "case.transition": _l("Stage changed"),
    "case.reopen": _l("Case reopened"),
    "case.service": _l("Service recorded"),
    "case.appointment": _l("Appointment set"),
    "case.visit": _l("Home visit recorded"),
    "case.note": _l("Internal note written"),
    "case.link_code": _l("Parent link code issued"),
    "case.confirmation": _l("Parent confirmed the service"),
    "case.not_received": _l("Parent says the service has not arrived"),
    "case.consent_withdraw": _l("Consent withdrawn"),
    "referral.create": _l("Referred"),
    "referral.accept": _l("Referral accepted"),
    "referral.decline": _l("Referral declined"),
    "referral.cancel": _l("Referral cancelled (consent withdrawn)"),
    "subject.export": _l("Data exported for the guardian"),
    "subject.erasure_request": _l("Erasure requested"),
    "subject.erasure_approve": _l("Erasure approved"),
    "subject.erasure_reject": _l("Erasure rejected"),
    "subject.erase": _l("Personal data erased"),
}
MESSAGE_WORDS = {
    "messages": _l("Reply on LINE"),
    "case.parent_update": _l("News of the case to the parent"),
    "case.volunteer_update": _l("News of the case to the volunteer"),
    "reminder.visit": _l("Home-visit reminder to the volunteer"),
    "reminder.appointment": _l("Appointment reminder to the parent"),
}
OFFICER_NOTICE = _l("Notice to the officers")
DELIVERY_WORDS = {
    "pending": _l("Waiting to be sent"),
    "sent": _l("Sent"),
    "failed": _l("Could not be sent"),
    "skipped": _l("Not sent"),
    "uncertain": _l("Probably sent"),
}
ROLE_WORDS = {"volunteer": _l("village health volunteer"), "parent": _l("the parent")}
_LINE_ID = re.compile(r"^U[0-9a-f]{32}$")
REQUEST_STATUS_WORDS = {
    ErasureRequest.PENDING: _l("Waiting for a supervisor"),
    ErasureRequest.APPROVED: _l("Approved"),
    ErasureRequest.REJECTED: _l("Rejected"),
    ErasureRequest.DONE: _l("Approved and erased"),
}


@bp.app_context_processor
def rights_helpers() -> dict:
    def erasure_state(case: Case) -> dict:
        """What the case page shows of the guardian's rights: who may act, a waiting
        request."""
        who = g.get("console_actor")
        return {"in_charge": who is not None and access.in_charge(who, case),
                "supervisor": who is not None and who.sees_whole_area,
                "pending": subject_rights.pending_request(db.session, case),
                "erased_at": case.erased_at}

    return {"erasure_state": erasure_state}


def people(data: dict):
    """Names for who did what (the reporter, the linked parents, the system) instead of raw
    LINE user ids; officers keep their usernames."""
    known: dict[str, str] = {}
    reporter = data.get("reporter")
    if reporter and reporter.get("line_user_id"):
        name = reporter.get("name") or reporter.get("display_name") or ""
        known[reporter["line_user_id"]] = f"{name} ({words(ROLE_WORDS, reporter.get('role'))})"
    for account in data.get("linked_line_accounts", []):
        known.setdefault(account["line_user_id"],
                         f"{account.get('display_name') or ''} ({ROLE_WORDS['parent']})")

    def who(name: str | None) -> str:
        if not name:
            return "–"
        if name in known:
            return known[name].strip()
        if name in ("system", "retention"):
            return _("Samoe (automatic)")
        if _LINE_ID.match(name):
            return _("a LINE user")
        return name

    return who


def message_words(kind: str | None) -> str:
    if kind in MESSAGE_WORDS:
        return str(MESSAGE_WORDS[kind])
    return str(OFFICER_NOTICE) if kind and kind.startswith(("case.", "referral.")) else \
        (kind or "")


def render_export_page(data: dict, photo_src) -> str:
    """The printable Thai page of an export (services.subject_rights.collect); `photo_src`
    gives each photo's address (a console URL, or a data: URL in the API's page)."""
    with force_locale("th"):
        return render_template(
            "console/subject_export.html", x=data, photo_src=photo_src, who=people(data),
            message_words=message_words,
            delivery_words=lambda code: words(DELIVERY_WORDS, code),
            role_words=lambda code: words(ROLE_WORDS, code),
            purpose_words=lambda code: words(PURPOSE_WORDS, code),
            channel_words=lambda code: words(CHANNEL_WORDS, code),
            action_words=lambda code: words(ACTION_WORDS, code),
            request_words=lambda code: words(REQUEST_STATUS_WORDS, code),
            thai_date=thai_date, **present.helpers())


def _refused(exc: WorkflowError):
    return error_page(exc.status, _("This cannot be done"), present.error_message(exc.code))


def _export(ref: str, format: str) -> dict | Response:
    case = load_case(ref)
    try:
        data = subject_rights.export_case(db.session, actor(), case.reference, format=format)
    except RightsError as exc:
        return _refused(exc)
    db.session.commit()
    return data


# -- export ----------------------------------------------------------------------------------

@bp.get("/cases/<string:ref>/export.json")
@login_required
def export_json(ref: str):
    """Everything held about the child, as a JSON file to download (audited)."""
    data = _export(ref, "json")
    if not isinstance(data, dict):
        return data
    body = json.dumps(subject_rights.as_json(data), ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="samoe-{data["reference"]}.json"'})


@bp.get("/cases/<string:ref>/export")
@login_required
def export_page(ref: str):
    """Everything held about the child, as a printable page in Thai (audited)."""
    data = _export(ref, "html")
    if not isinstance(data, dict):
        return data
    reference = data["reference"]
    return render_export_page(data, lambda photo: url_for(
        ".export_photo", ref=reference, photo_id=photo["id"]))


@bp.get("/cases/<string:ref>/export/photos/<int:photo_id>")
@login_required
def export_photo(ref: str, photo_id: int):
    """A photo on the printable page, for those in charge of the case (audited)."""
    case = load_case(ref)
    if not access.in_charge(actor(), case) or not 0 < photo_id <= subject_rights.MAX_ID:
        return error_page(404, _("Not found"),
                          _("There is no such page or case within your area and agency."))
    row = db.session.get(CasePhoto, photo_id)
    if row is None or row.case_id != case.id:
        return error_page(404, _("Not found"),
                          _("There is no such page or case within your area and agency."))
    audit.record(db.session, actor(), "case.photo", case, photo_id=row.id, via_export=True)
    db.session.commit()
    kind = row.content_type if row.content_type.startswith("image/") else \
        "application/octet-stream"
    return Response(row.data, mimetype=kind)


# -- asking for an erasure -------------------------------------------------------------------

def _erasure_form(case: Case, reason: str = "", error: str | None = None, status: int = 200):
    return render_template("console/erasure_request.html", case=case, reason=reason,
                           error=error, limit=subject_rights.REASON_LIMIT), status


@bp.get("/cases/<string:ref>/erasure")
@login_required
def erasure_form(ref: str):
    """What erasure does, and the form to ask for it with the guardian's reason."""
    case = load_case(ref)
    try:
        _may_request(case)
    except RightsError as exc:
        return _refused(exc)
    return _erasure_form(case)


def _may_request(case: Case) -> None:
    if case.erased_at is not None:
        raise RightsError("already_erased", "erased already")
    if not access.in_charge(actor(), case):
        raise RightsError("not_in_charge", "not in charge")
    if subject_rights.pending_request(db.session, case) is not None:
        raise RightsError("erasure_pending", "a request waits")


@bp.post("/cases/<string:ref>/erasure")
@login_required
def request_erasure(ref: str):
    """Ask for the erasure (the reason checked, then confirmed once more)."""
    case = load_case(ref)
    reason = request.form.get("reason", "")
    try:
        _may_request(case)
        subject_rights.check_reason(reason, required=True)
    except RightsError as exc:
        return _refused(exc)
    except WorkflowError as exc:  # the reason: empty, too long, unsavable
        return _erasure_form(case, reason, present.error_message(exc.code), exc.status)
    if request.form.get("confirm") != "1":
        return render_template(
            "console/rights_confirm.html", case=case,
            title=_("Ask for the erasure of %(reference)s?", reference=case.reference),
            lines=[(_("Case"), case.reference), (_("Reason"), reason)],
            keep={"reason": reason}, action=request.path, button=_("Yes, ask for it"),
            cancel=url_for(".case_page", ref=case.reference), danger=True)
    try:
        subject_rights.request_erasure(db.session, actor(), case.reference, reason)
    except WorkflowError as exc:
        db.session.rollback()
        return _refused(exc)
    db.session.commit()
    flash(_("Sent: a supervisor of the area will approve or reject the erasure."), "ok")
    return redirect(url_for(".case_page", ref=case.reference, _anchor="rights"))


# -- deciding --------------------------------------------------------------------------------

@bp.get("/erasure-requests", endpoint="erasure_requests")
@login_required
def erasure_requests():
    """The requests of the supervisor's area that wait for a decision (audited)."""
    who = actor()
    try:
        rows = subject_rights.pending_requests(db.session, who)
    except RightsError as exc:
        return _refused(exc)
    audit.record(db.session, who, "subject.erasure_list",
                 references=[row.case.reference for row in rows])
    db.session.commit()
    return render_template("console/erasure_requests.html", rows=rows, me=who.name)


def _load_request(request_id: int) -> ErasureRequest:
    return subject_rights.get_request(db.session, actor(), request_id)  # NotFound: 404


def _decide(request_id: int, decide, title: str, button: str, done: str, danger: bool):
    row = _load_request(request_id)
    rejecting = decide is subject_rights.reject
    reason = request.form.get("reason", "") if rejecting else ""
    if request.form.get("confirm") != "1":
        try:  # refused before asking, rather than after
            subject_rights.require_supervisor(actor())
            if row.requested_by == actor().name:
                raise RightsError("own_request", "own request")
            if row.status != ErasureRequest.PENDING:
                raise RightsError("already_decided", "decided")
            subject_rights.check_reason(reason, required=False)
        except WorkflowError as exc:
            return _refused(exc)
        lines = [(_("Case"), row.case.reference), (_("Asked by"), row.requested_by),
                 (_("Asked on"), present.show_moment(row.requested_at)),
                 (_("Reason for the erasure"), row.reason)]
        if reason.strip():
            lines.append((_("Reason for rejecting"), reason))
        return render_template(
            "console/rights_confirm.html", case=row.case, title=title, lines=lines,
            keep={"reason": reason} if rejecting else {}, action=request.path, button=button,
            cancel=url_for(".erasure_requests"), danger=danger)
    try:
        if rejecting:
            decide(db.session, actor(), row, reason or None)
        else:
            decide(db.session, actor(), row)
    except WorkflowError as exc:
        db.session.rollback()
        return _refused(exc)
    db.session.commit()
    flash(done, "ok")
    return redirect(url_for(".erasure_requests"))


@bp.post("/erasure-requests/<int:request_id>/approve", endpoint="erasure_approve")
@login_required
def approve(request_id: int):
    """Approve (asked once more): the case's personal data is erased at once."""
    return _decide(request_id, subject_rights.approve,
                   _("Approve the erasure? The child's personal data and photos will be "
                     "removed for good."), _("Yes, erase it"),
                   _("Done: the child's personal data was erased."), danger=True)


@bp.post("/erasure-requests/<int:request_id>/reject", endpoint="erasure_reject")
@login_required
def reject(request_id: int):
    """Reject (asked once more, with an optional reason): nothing is erased."""
    return _decide(request_id, subject_rights.reject, _("Reject this erasure request?"),
                   _("Yes, reject it"), _("Rejected: nothing was erased."), danger=False)
