"""/api/v1/cases: the work queue, a case in full, and the actions on a case."""

from __future__ import annotations

import datetime as dt

from flask import current_app

from bot.extensions import db
from bot.thai_text import parse_reference
from models import utcnow
from services import audit, cases, consent, queue, workflow
from services.access import may_change

from . import serialize
from .base import ApiBlueprint
from .context import actor, load_case
from .errors import ApiError
from .schemas import (
    AppointmentIn,
    AppointmentWithCase,
    CaseDetail,
    CaseList,
    CaseListArgs,
    ConsentSummary,
    LinkCodeOut,
    NoteIn,
    NoteOut,
    ReferralIn,
    ReferralWithCase,
    ReopenIn,
    ServiceIn,
    ServiceWithCase,
    TransitionIn,
    TransitionOut,
    VisitIn,
    VisitWithCase,
    WithdrawIn,
)

bp = ApiBlueprint("cases", __name__, description="Cases in the caller's scope.")

REF = "/cases/<string:ref>"


@bp.route("/cases", methods=["GET"])
@bp.arguments(CaseListArgs, location="query")
@bp.response(200, CaseList)
@bp.errors(400)
def list_cases(args):
    """List cases, newest first

    Filters combine with AND. Pages by an opaque cursor: pass `next_cursor` back as `cursor`.
    Each request is written to the audit log with the references returned."""
    q = args.get("q")
    filters = queue.CaseFilters(
        stage=args.get("stage"), group=args.get("group"), district=args.get("district"),
        subdistrict=args.get("subdistrict"), agency=args.get("agency"), q=q,
        reference=parse_reference(q) if q else None, overdue=args.get("overdue"),
        referred_to_us=args.get("referred_to_us"), escalated=args.get("escalated"),
        stale=args.get("stale"))
    try:
        rows, next_cursor = queue.list_cases(db.session, actor(), filters,
                                             cursor=args.get("cursor"), limit=args["limit"])
    except queue.BadCursor:
        raise ApiError(400, "bad_cursor") from None
    audit.record(db.session, actor(), "case.list", references=[c.reference for c in rows],
                 filters=filters.as_detail(), cursor=args.get("cursor"))
    return {"items": serialize.case_summaries(db.session, rows), "next_cursor": next_cursor}


@bp.route(REF, methods=["GET"])
@bp.response(200, CaseDetail)
@bp.errors(404)
def get_case(ref):
    """A case in full

    The child, guardian, address, consent, referrals, services, appointments, visits and the
    whole timeline (internal notes included). Written to the audit log."""
    case = load_case(ref)
    audit.record(db.session, actor(), "case.read", case)
    return serialize.case_detail(db.session, case)


@bp.route(REF + "/transitions", methods=["POST"])
@bp.arguments(TransitionIn)
@bp.response(200, TransitionOut)
@bp.errors(400, 404, 409, 422)
def transition(body, ref):
    """Move the case to another stage

    Allowed moves: received → verifying or in_support; verifying → in_support; referred →
    verifying or in_support (once the referral is answered); in_support → follow_up or
    closed; follow_up → in_support or closed. Closing needs a service and, after it, a
    confirming home visit or the parent's confirmation."""
    case = load_case(ref)
    entry = workflow.transition(db.session, actor(), case, body["to"], body.get("note"))
    db.session.flush()
    return {"case": serialize.case_state(case), "entry": serialize.entry(entry)}


@bp.route(REF + "/reopen", methods=["POST"])
@bp.arguments(ReopenIn)
@bp.response(200, TransitionOut)
@bp.errors(400, 404, 409, 422)
def reopen(body, ref):
    """Reopen a closed case (back to verifying)"""
    case = load_case(ref)
    entry = workflow.reopen(db.session, actor(), case, body["reason"])
    db.session.flush()
    return {"case": serialize.case_state(case), "entry": serialize.entry(entry)}


@bp.route(REF + "/referrals", methods=["POST"])
@bp.arguments(ReferralIn)
@bp.response(201, ReferralWithCase)
@bp.errors(400, 404, 409, 422)
def refer(body, ref):
    """Refer the case to another agency

    The case stays with its owner until the other agency accepts."""
    case = load_case(ref)
    row = workflow.refer(db.session, actor(), case, body["to_agency"], body["reason"])
    return serialize.referral_with_case(row)


@bp.route(REF + "/services", methods=["POST"])
@bp.arguments(ServiceIn)
@bp.response(201, ServiceWithCase)
@bp.errors(400, 404, 409, 422)
def record_service(body, ref):
    """Record a service given to the child"""
    case = load_case(ref)
    row = workflow.record_service(db.session, actor(), case, body["code"],
                                  body.get("provided_on"), body.get("note"))
    return {**serialize.service(row), "case": serialize.case_state(case)}


@bp.route(REF + "/appointments", methods=["POST"])
@bp.arguments(AppointmentIn)
@bp.response(201, AppointmentWithCase)
@bp.errors(400, 404, 409, 422)
def set_appointment(body, ref):
    """Set an appointment for the child and family"""
    case = load_case(ref)
    row = workflow.set_appointment(db.session, actor(), case, body["at"], body.get("place"),
                                   body.get("purpose"))
    return {**serialize.appointment(row), "case": serialize.case_state(case)}


@bp.route(REF + "/visits", methods=["POST"])
@bp.arguments(VisitIn)
@bp.response(201, VisitWithCase)
@bp.errors(400, 404, 409, 422)
def record_visit(body, ref):
    """Record a home visit"""
    case = load_case(ref)
    row = workflow.record_visit(db.session, actor(), case, body["outcome"],
                                body.get("visited_on"), body.get("note"),
                                body.get("latitude"), body.get("longitude"))
    return {**serialize.visit(row), "case": serialize.case_state(case)}


@bp.route(REF + "/notes", methods=["POST"])
@bp.arguments(NoteIn)
@bp.response(201, NoteOut)
@bp.errors(400, 404, 409, 422)
def add_note(body, ref):
    """Add an internal note (never shown to parents)"""
    case = load_case(ref)
    entry = workflow.add_note(db.session, actor(), case, body["text"])
    db.session.flush()
    return {**serialize.entry(entry), "case": serialize.case_state(case)}


@bp.route(REF + "/consent/withdraw", methods=["POST"])
@bp.arguments(WithdrawIn)
@bp.response(200, ConsentSummary)
@bp.errors(400, 404, 409, 422)
def withdraw_consent(body, ref):
    """Record the guardian's withdrawal of consent (the owning agency)

    Every active consent gets its withdrawal time, who recorded it and the channel (`api`);
    the case is no longer shared with other agencies: a referral waiting for an answer is
    cancelled (its agency is told) and no new one is made; its photos are not shown; the
    officers in charge are told. Written to the audit log."""
    case = load_case(ref)
    try:
        consent.withdraw(db.session, actor(), case, body.get("reason"))
    except consent.ConsentError as exc:
        raise ApiError(exc.status, exc.code) from None
    db.session.flush()
    db.session.refresh(case)
    return serialize._consent(case)


@bp.route(REF + "/link-codes", methods=["POST"])
@bp.response(201, LinkCodeOut)
@bp.errors(404, 409)
def issue_link_code(ref):
    """Issue a parent link code

    Six digits, single use, valid for 7 days; a parent types it in LINE to follow the case.
    For the owning agency and the area's supervisors."""
    case = load_case(ref)
    if not may_change(actor(), case):
        raise ApiError(409, "not_owner")
    now = utcnow()
    code = cases.issue_link_code(db.session, current_app.config["SECRET_KEY"], case,
                                 actor().name, now=now)
    expires_at = now + cases.LINK_CODE_VALID_FOR
    audit.record(db.session, actor(), "case.link_code", case,
                 expires_at=expires_at.astimezone(dt.UTC).isoformat())
    return {"code": code, "expires_at": expires_at, "case_reference": case.reference}
