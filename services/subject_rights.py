"""Data-subject rights (PDPA; issue 11, point 2): on a guardian's request, export everything
Samoe holds about a child, and erase it after a supervisor's approval.

Export (`export_case`): the case in full (identity and phone numbers decrypted), the guardian
and the LINE accounts linked to the child, who reported, every consent with its history, the
whole timeline (internal notes included), referrals, services, appointments, home visits,
photos (their bytes, base64 in JSON), parent link codes (never their hash), the LINE messages
about the case still in the outbox, the erasure requests, and the audit log of the case.
Only for those in charge of the case (`access.in_charge`: the owning agency's officers and
the area's supervisors and administrators); a case outside the actor's scope is not found,
as everywhere. Each export is written to the audit log (`subject.export`).

Erasure, in two steps by two people:

1. `request_erasure`: an officer in charge asks, with the guardian's reason (one waiting
   request per case);
2. `approve` or `reject`: a supervisor or administrator whose scope covers the case, not the
   one who asked. Approval runs `erase_case` in the same transaction.

`erase_case` removes or coarsens the personal fields the way retention does after five years
(services.retention.pseudonymise_case: the name becomes the reference, the birth date its
year, the ID number, guardian, village, location and every free-text note go, the photos are
deleted), and also: the LINE accounts linked to the child and the parent link codes are
dropped, a guardian's LINE id is removed from the timeline, consents and service
confirmations, a parent who reported their own child is no longer its reporter, the LINE
messages about the case are deleted from the outbox, and the case loses its deadline (no
reminders or escalations). Kept: the case row with its reference, stage, group, place and
dates (the province's counts by area, group and stage do not change), the timeline's kinds,
the requests, and the audit log (append-only; its chain still verifies). The case gets
`erased_at` and is never changed again (services.access.may_change). Every step is audited
(`subject.erasure_request`, `subject.erasure_approve` / `subject.erasure_reject`,
`subject.erase` with what was removed).

Safe twice: a conditional UPDATE decides a request once (two supervisors approving at the same
moment: the second is told it was already decided), and the case is erased once (a second
erasure of the same case does nothing). Nothing here commits.
"""

from __future__ import annotations

import base64
import datetime as dt
import json

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import (
    Agency,
    Appointment,
    Area,
    AuditEntry,
    Case,
    CaseGuardian,
    CasePhoto,
    CaseService,
    Consent,
    ErasureRequest,
    LineUser,
    LinkCode,
    OutboxMessage,
    Referral,
    TimelineEntry,
    Visit,
    utcnow,
)
from services import access, audit, cases, retention
from services.access import Actor
from services.workflow import TEXT_LIMIT, WorkflowError, _text

EXPORT_FORMAT = "samoe.subject-export"
EXPORT_VERSION = 1
REASON_LIMIT = TEXT_LIMIT
#: Largest id a URL may name (BIGINT).
MAX_ID = 2**63 - 1


class RightsError(WorkflowError):
    """A refused export, request or decision: `code`, and the HTTP status the API answers
    (403 not allowed for the role, 409 conflict, 422 invalid value)."""


# -- export ----------------------------------------------------------------------------------

def _require_in_charge(actor: Actor, case: Case) -> None:
    if not access.in_charge(actor, case):
        raise RightsError("not_in_charge", "only those in charge of the case may do this")


def _area(session: Session, code: str | None) -> dict | None:
    if not code:
        return None
    area = session.get(Area, code)
    return {"code": code, "name_th": area.name_th if area else None,
            "name_en": area.name_en if area else None}


def _agency(session: Session, code: str | None) -> dict | None:
    if not code:
        return None
    agency = session.get(Agency, code)
    return {"code": code, "name_th": agency.short_name_th if agency else None,
            "name_en": agency.name_en if agency else None}


def _rows(session: Session, model, *order):
    return lambda case_id: list(session.scalars(
        sa.select(model).where(model.case_id == case_id).order_by(*order)))


def mentions(reference: str):
    """The outbox rows whose payload names the case (every notification about a case carries
    its reference; a reply that showed it has it in its text)."""
    return OutboxMessage.payload.contains(reference, autoescape=True)


def _payload(text: str | None):
    try:
        return json.loads(text or "null")
    except ValueError:
        return text


def collect(session: Session, case: Case, now: dt.datetime | None = None) -> dict:
    """Everything held about the case's child, as plain values (datetimes, dates and bytes
    included: `as_json` makes it JSON)."""
    now = now or utcnow()
    cid = case.id
    reporter = session.get(LineUser, case.reporter_id) if case.reporter_id else None
    linked = session.execute(
        sa.select(CaseGuardian, LineUser).join(LineUser, LineUser.id == CaseGuardian.line_user_id)
        .where(CaseGuardian.case_id == cid).order_by(CaseGuardian.id)).all()
    timeline = _rows(session, TimelineEntry, TimelineEntry.at, TimelineEntry.id)(cid)
    photos = _rows(session, CasePhoto, CasePhoto.id)(cid)
    data = {
        "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "generated_at": now,
        "reference": case.reference,
        "case": {
            "reference": case.reference, "target_group": case.target_group,
            "stage": case.stage, "self_reported": bool(case.self_reported),
            "child": {"name": case.child_name, "sex": case.sex, "birth_date": case.birth_date,
                      "birth_precision": case.birth_precision, "id_kind": case.id_kind,
                      "id_number": case.id_number},
            "address": {"village": case.village, "village_no": case.village_no,
                        "subdistrict": _area(session, case.subdistrict_code),
                        "district": _area(session, case.district_code),
                        "latitude": case.latitude, "longitude": case.longitude,
                        "location_address": case.location_address},
            "situations": list(case.situations or []), "note": case.note,
            "owner_agency": _agency(session, case.owner_agency_code),
            "owner_area": _area(session, case.owner_area_code),
            "created_at": case.created_at, "updated_at": case.updated_at,
            "first_action_at": case.first_action_at, "due_at": case.due_at,
            "closed_at": case.closed_at, "pseudonymised_at": case.pseudonymised_at,
            "erased_at": case.erased_at,
        },
        "guardian": {"name": case.guardian_name, "phone": case.guardian_phone,
                     "relation": case.guardian_relation},
        "linked_line_accounts": [
            {"line_user_id": user.line_user_id, "display_name": user.display_name,
             "linked_at": row.linked_at, "unlinked_at": row.unlinked_at}
            for row, user in linked],
        "reporter": None if reporter is None else {
            "role": reporter.role, "name": reporter.full_name,
            "display_name": reporter.display_name, "line_user_id": reporter.line_user_id},
        "consents": [
            {"id": c.id, "guardian_name": c.guardian_name, "purposes": list(c.purposes or []),
             "statement_version": c.statement_version,
             "statement": cases.consent_statement(c.statement_version), "channel": c.channel,
             "recorded_by": c.recorded_by, "recorded_at": c.recorded_at,
             "withdrawn_at": c.withdrawn_at, "withdrawn_by": c.withdrawn_by,
             "withdrawal_channel": c.withdrawal_channel}
            for c in _rows(session, Consent, Consent.id)(cid)],
        "timeline": [
            {"id": e.id, "kind": e.kind, "at": e.at, "actor": e.actor, "public": bool(e.public),
             "detail": dict(e.detail or {})} for e in timeline],
        "notes": [
            {"at": e.at, "actor": e.actor, "text": e.detail.get("text")}
            for e in timeline if e.kind == "note" and (e.detail or {}).get("text")],
        "referrals": [
            {"id": r.id, "status": r.status, "from_agency": r.from_agency_code,
             "to_agency": r.to_agency_code, "reason": r.reason, "created_by": r.created_by,
             "created_at": r.created_at, "decided_by": r.decided_by,
             "decided_at": r.decided_at, "decision_reason": r.decision_reason}
            for r in _rows(session, Referral, Referral.id)(cid)],
        "services": [
            {"id": s.id, "code": s.code, "agency": s.agency_code, "provided_on": s.provided_on,
             "note": s.note, "recorded_by": s.recorded_by, "recorded_at": s.recorded_at,
             "confirmed_at": s.confirmed_at, "confirmed_by": s.confirmed_by}
            for s in _rows(session, CaseService, CaseService.provided_on, CaseService.id)(cid)],
        "appointments": [
            {"id": a.id, "at": a.at, "place": a.place, "purpose": a.purpose,
             "agency": a.agency_code, "created_by": a.created_by, "created_at": a.created_at,
             "cancelled_at": a.cancelled_at}
            for a in _rows(session, Appointment, Appointment.at, Appointment.id)(cid)],
        "visits": [
            {"id": v.id, "visited_on": v.visited_on, "outcome": v.outcome, "note": v.note,
             "visitor": v.visitor, "visitor_kind": v.visitor_kind, "latitude": v.latitude,
             "longitude": v.longitude, "photo_id": v.photo_id, "created_at": v.created_at}
            for v in _rows(session, Visit, Visit.visited_on, Visit.id)(cid)],
        "photos": [
            {"id": p.id, "content_type": p.content_type, "size": p.size,
             "created_at": p.created_at, "data_base64": p.data} for p in photos],
        "link_codes": [
            {"created_by": lc.created_by, "created_at": lc.created_at,
             "expires_at": lc.expires_at, "used_at": lc.used_at, "used_by": lc.used_by}
            for lc in _rows(session, LinkCode, LinkCode.id)(cid)],
        "line_messages": [
            {"kind": m.kind, "recipient": m.recipient, "status": m.status,
             "created_at": m.created_at, "sent_at": m.sent_at, "payload": _payload(m.payload)}
            for m in session.scalars(sa.select(OutboxMessage).where(mentions(case.reference))
                                     .order_by(OutboxMessage.id))],
        "erasure_requests": [
            {"id": r.id, "status": r.status, "requested_by": r.requested_by,
             "requested_at": r.requested_at, "reason": r.reason, "decided_by": r.decided_by,
             "decided_at": r.decided_at, "decision_reason": r.decision_reason,
             "done_at": r.done_at}
            for r in _rows(session, ErasureRequest, ErasureRequest.id)(cid)],
        "audit": [
            {"at": a.at, "actor": a.actor, "actor_kind": a.actor_kind, "action": a.action,
             "detail": dict(a.detail or {})}
            for a in session.scalars(sa.select(AuditEntry).where(AuditEntry.case_id == cid)
                                     .order_by(AuditEntry.id))],
    }
    data["counts"] = {key: len(data[key]) for key in (
        "linked_line_accounts", "consents", "timeline", "notes", "referrals", "services",
        "appointments", "visits", "photos", "link_codes", "line_messages", "erasure_requests",
        "audit")}
    return data


def export_case(session: Session, actor: Actor, reference: str, *, format: str = "json",
                now: dt.datetime | None = None) -> dict:
    """Everything held about the child of case `reference` (canonical form), for those in
    charge of it; `access.NotFound` outside the actor's scope. Audited (`subject.export`)."""
    case = access.get_case(session, actor, reference)
    _require_in_charge(actor, case)
    data = collect(session, case, now)
    data["generated_by"] = actor.name
    audit.record(session, actor, "subject.export", case, format=format,
                 counts=data["counts"])
    return data


def as_json(value):
    """An export (or any part of it) as JSON values: ISO 8601 times and dates, bytes in
    base64."""
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


# -- erasure requests ------------------------------------------------------------------------

def check_reason(value: str | None, required: bool) -> str | None:
    return _text(value, "reason", required=required, limit=REASON_LIMIT)


def pending_request(session: Session, case: Case) -> ErasureRequest | None:
    return session.scalar(sa.select(ErasureRequest).where(
        ErasureRequest.case_id == case.id, ErasureRequest.status == ErasureRequest.PENDING))


def request_erasure(session: Session, actor: Actor, reference: str, reason: str | None,
                    now: dt.datetime | None = None) -> ErasureRequest:
    """An officer in charge of the case asks for its erasure, with the guardian's reason."""
    now = now or utcnow()
    case = access.get_case(session, actor, reference)
    if case.erased_at is not None:
        raise RightsError("already_erased", "the case's personal data was erased already")
    _require_in_charge(actor, case)
    reason = check_reason(reason, required=True)
    if pending_request(session, case) is not None:
        raise RightsError("erasure_pending", "a request to erase this case is waiting")
    row = ErasureRequest(case_id=case.id, requested_by=actor.name, reason=reason,
                         requested_at=now, status=ErasureRequest.PENDING)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another request for this case was made at the same moment
        raise RightsError("erasure_pending", "a request to erase this case is waiting") \
            from None
    row.case = case
    session.add(TimelineEntry(case_id=case.id, kind="erasure_requested", actor=actor.name,
                              public=False, at=now, detail={"request_id": row.id}))
    audit.record(session, actor, "subject.erasure_request", case, request_id=row.id)
    return row


def requests_clause(actor: Actor):
    """Requests whose case the actor may see."""
    return sa.select(ErasureRequest).join(Case, Case.id == ErasureRequest.case_id).where(
        access.scope_clause(actor))


def pending_requests(session: Session, actor: Actor) -> list[ErasureRequest]:
    """The requests waiting for a decision that this supervisor may take, oldest first."""
    require_supervisor(actor)
    return list(session.scalars(
        requests_clause(actor).where(ErasureRequest.status == ErasureRequest.PENDING)
        .order_by(ErasureRequest.requested_at, ErasureRequest.id)))


def get_request(session: Session, actor: Actor, request_id: int) -> ErasureRequest:
    """A request whose case the actor may see; `access.NotFound` otherwise."""
    row = None
    if 0 < request_id <= MAX_ID:
        row = session.scalar(requests_clause(actor).where(ErasureRequest.id == request_id))
    if row is None:
        raise access.NotFound(str(request_id))
    return row


def require_supervisor(actor: Actor) -> None:
    if not actor.sees_whole_area:
        raise RightsError("not_supervisor", "only a supervisor or administrator decides", 403)


def _decide(session: Session, actor: Actor, row: ErasureRequest, status: str,
            now: dt.datetime, reason: str | None = None) -> None:
    require_supervisor(actor)
    if row.requested_by == actor.name:
        raise RightsError("own_request", "the one who asked cannot decide")
    if row.status != ErasureRequest.PENDING:
        raise RightsError("already_decided", f"the request is already {row.status}")
    taken = session.execute(
        sa.update(ErasureRequest)
        .where(ErasureRequest.id == row.id, ErasureRequest.status == ErasureRequest.PENDING)
        .values(status=status, decided_by=actor.name, decided_at=now, decision_reason=reason)
        .execution_options(synchronize_session=False)).rowcount
    session.refresh(row)
    if taken != 1:
        raise RightsError("already_decided", f"the request is already {row.status}")


def reject(session: Session, actor: Actor, row: ErasureRequest, reason: str | None = None,
           now: dt.datetime | None = None) -> ErasureRequest:
    """A supervisor rejects the request (with an optional reason): nothing is erased."""
    now = now or utcnow()
    reason = check_reason(reason, required=False)
    _decide(session, actor, row, ErasureRequest.REJECTED, now, reason)
    session.add(TimelineEntry(case_id=row.case_id, kind="erasure_rejected", actor=actor.name,
                              public=False, at=now, detail={"request_id": row.id}))
    audit.record(session, actor, "subject.erasure_reject", row.case, request_id=row.id)
    return row


def approve(session: Session, actor: Actor, row: ErasureRequest,
            now: dt.datetime | None = None) -> ErasureRequest:
    """A supervisor approves the request: the case is erased at once, and the request is
    `done`."""
    now = now or utcnow()
    _decide(session, actor, row, ErasureRequest.APPROVED, now)
    audit.record(session, actor, "subject.erasure_approve", row.case, request_id=row.id)
    erase_case(session, actor, row.case, now, request_id=row.id)
    row.status, row.done_at = ErasureRequest.DONE, now
    session.flush()
    return row


# -- erasure ---------------------------------------------------------------------------------

def erase_case(session: Session, actor: Actor, case: Case, now: dt.datetime | None = None,
               request_id: int | None = None) -> dict | None:
    """Erase the personal data of a case (see the module); returns what was removed, or None
    when the case was erased already (nothing is done twice)."""
    now = now or utcnow()
    taken = session.execute(
        sa.update(Case).where(Case.id == case.id, Case.erased_at.is_(None))
        .values(erased_at=now, updated_at=Case.updated_at)
        .execution_options(synchronize_session=False)).rowcount
    session.refresh(case)
    if taken != 1:
        return None
    cid = case.id
    guardian_ids = list(session.scalars(
        sa.select(LineUser.line_user_id)
        .join(CaseGuardian, CaseGuardian.line_user_id == LineUser.id)
        .where(CaseGuardian.case_id == cid)))
    user_ids = list(session.scalars(sa.select(CaseGuardian.line_user_id)
                                    .where(CaseGuardian.case_id == cid)))
    if case.self_reported and case.reporter_id is not None:
        reporter = session.get(LineUser, case.reporter_id)
        if reporter is not None:
            guardian_ids.append(reporter.line_user_id)
            user_ids.append(reporter.id)
        case.reporter_id = None
    photos = session.scalar(sa.select(sa.func.count(CasePhoto.id))
                            .where(CasePhoto.case_id == cid)) or 0
    retention.pseudonymise_case(session, case, now)
    removed = {
        "photos": int(photos),
        "line_links": _delete(session, CaseGuardian, CaseGuardian.case_id == cid),
        "link_codes": _delete(session, LinkCode, LinkCode.case_id == cid),
        "line_messages": _delete(session, OutboxMessage, mentions(case.reference)),
        "guardian_line_ids": _forget_line_ids(session, cid, guardian_ids, user_ids),
    }
    case.due_at, case.escalation, case.visit_reminded_on = None, 0, None
    case.updated_at = now
    session.add(TimelineEntry(case_id=cid, kind="erased", actor=actor.name, public=False,
                              at=now, detail={"request_id": request_id} if request_id else {}))
    audit.record(session, actor, "subject.erase", case, request_id=request_id, **removed)
    session.flush()
    session.expire(case)
    return removed


def _delete(session: Session, model, where) -> int:
    return session.execute(sa.delete(model).where(where)
                           .execution_options(synchronize_session=False)).rowcount


def _forget_line_ids(session: Session, case_id: int, line_ids: list[str],
                     user_ids: list[int]) -> int:
    """Remove the guardians' LINE ids (and user ids) from what stays of the case."""
    line_ids = sorted(set(line_ids))
    if not line_ids:
        return 0
    changed = 0
    for model, column in ((TimelineEntry, TimelineEntry.actor),
                          (Consent, Consent.recorded_by),
                          (CaseService, CaseService.confirmed_by)):
        changed += session.execute(
            sa.update(model).where(model.case_id == case_id, column.in_(line_ids))
            .values({column.key: None}).execution_options(synchronize_session=False)).rowcount
    for entry in session.scalars(sa.select(TimelineEntry).where(
            TimelineEntry.case_id == case_id, TimelineEntry.kind == "duplicate_report")):
        if (entry.detail or {}).get("reporter_id") in user_ids:
            entry.detail = {k: v for k, v in entry.detail.items() if k != "reporter_id"}
            changed += 1
    return changed
