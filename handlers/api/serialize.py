"""Models to the plain dicts the response schemas dump (one place for each shape)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import (
    BANGKOK,
    Appointment,
    Area,
    Case,
    CasePhoto,
    CaseService,
    Consent,
    Referral,
    TimelineEntry,
    Visit,
    utcnow,
)
from services import reminders, workflow
from services.cases import CONSENT_PURPOSES, age_on
from services.queue import pending_referrals_of


def areas(session: Session, codes) -> dict[str, Area]:
    codes = {code for code in codes if code}
    if not codes:
        return {}
    return {a.code: a for a in session.scalars(sa.select(Area).where(Area.code.in_(codes)))}


def area(code: str, known: dict[str, Area]) -> dict:
    place = known.get(code)
    return {"code": code, "name_th": place.name_th if place else None,
            "name_en": place.name_en if place else None}


def case_state(case: Case, now: dt.datetime | None = None) -> dict:
    return {"reference": case.reference, "stage": case.stage,
            "owner_agency": case.owner_agency_code, "owner_area_code": case.owner_area_code,
            "due_at": case.due_at, "overdue": workflow.is_overdue(case, now),
            "updated_at": case.updated_at}


def referral(row: Referral, reference: str | None = None) -> dict:
    return {"id": row.id, "case_reference": reference or row.case.reference,
            "status": row.status, "from_agency": row.from_agency_code,
            "from_area_code": row.from_area_code, "to_agency": row.to_agency_code,
            "to_area_code": row.to_area_code, "from_stage": row.from_stage,
            "reason": row.reason, "created_by": row.created_by, "created_at": row.created_at,
            "decided_by": row.decided_by, "decided_at": row.decided_at,
            "decision_reason": row.decision_reason}


def referral_with_case(row: Referral) -> dict:
    return {**referral(row), "case": case_state(row.case)}


def _summary(case: Case, known: dict[str, Area], pending: Referral | None,
             now: dt.datetime, visited: bool = True) -> dict:
    return {
        "self_reported": bool(case.self_reported),
        "needs_visit": bool(case.self_reported) and not visited,
        "reference": case.reference, "child_name": case.child_name,
        "group": case.target_group, "stage": case.stage,
        "subdistrict": area(case.subdistrict_code, known),
        "district": area(case.district_code, known),
        "owner_agency": case.owner_agency_code, "owner_area_code": case.owner_area_code,
        "created_at": case.created_at, "updated_at": case.updated_at, "due_at": case.due_at,
        "overdue": workflow.is_overdue(case, now),
        "escalation": reminders.LEVEL_NAMES.get(case.escalation),
        "stale": reminders.is_stale(case, now),
        "pending_referral": referral(pending, case.reference) if pending else None,
    }


def case_summaries(session: Session, cases: list[Case]) -> list[dict]:
    """A page of cases, with their area names and pending referrals in two queries."""
    now = utcnow()
    known = areas(session, [c.subdistrict_code for c in cases] + [c.district_code
                                                                  for c in cases])
    pending = pending_referrals_of(session, [c.id for c in cases])
    visited = workflow.visited_cases(session, [c.id for c in cases if c.self_reported])
    return [_summary(case, known, pending.get(case.id), now, case.id in visited)
            for case in cases]


def service(row: CaseService) -> dict:
    return {"id": row.id, "code": row.code, "agency": row.agency_code,
            "provided_on": row.provided_on, "note": row.note, "recorded_by": row.recorded_by,
            "recorded_at": row.recorded_at, "confirmed_at": row.confirmed_at}


def appointment(row: Appointment) -> dict:
    return {"id": row.id, "at": row.at, "place": row.place, "purpose": row.purpose,
            "agency": row.agency_code, "created_by": row.created_by,
            "created_at": row.created_at, "cancelled_at": row.cancelled_at}


def visit(row: Visit) -> dict:
    return {"id": row.id, "visited_on": row.visited_on, "outcome": row.outcome,
            "note": row.note, "visitor": row.visitor, "visitor_kind": row.visitor_kind,
            "latitude": row.latitude, "longitude": row.longitude,
            "created_at": row.created_at}


def entry(row: TimelineEntry) -> dict:
    return {"id": row.id, "kind": row.kind, "at": row.at, "actor": row.actor,
            "public": bool(row.public), "detail": dict(row.detail or {})}


def consent_record(row: Consent) -> dict:
    return {"id": row.id, "guardian_name": row.guardian_name,
            "purposes": list(row.purposes or []), "statement_version": row.statement_version,
            "channel": row.channel, "recorded_by": row.recorded_by,
            "recorded_at": row.recorded_at, "withdrawn_at": row.withdrawn_at,
            "withdrawn_by": row.withdrawn_by, "withdrawal_channel": row.withdrawal_channel}


def _consent(case: Case) -> dict:
    """The case's consent: the purposes its consents not withdrawn cover (services.consent),
    each purpose yes or no, and every consent with its history."""
    active = [c for c in case.consents if c.withdrawn_at is None]
    latest = active[-1] if active else None
    covered = {p for consent in active for p in consent.purposes or []}
    purposes = [p for p in CONSENT_PURPOSES if p in covered]
    return {"active": latest is not None, "purposes": purposes,
            "by_purpose": {p: p in covered for p in CONSENT_PURPOSES},
            "do_not_contact": "follow_up_contact" not in covered,
            "withdrawn": bool(case.consents) and latest is None,
            "statement_version": latest.statement_version if latest else None,
            "recorded_at": latest.recorded_at if latest else None,
            "count": len(case.consents),
            "records": [consent_record(row) for row in case.consents]}


def _child(case: Case) -> dict:
    today = utcnow().astimezone(BANGKOK).date()
    return {"name": case.child_name, "sex": case.sex, "birth_date": case.birth_date,
            "birth_precision": case.birth_precision,
            "age": age_on(case.birth_date, today) if case.birth_date else None,
            "id_kind": case.id_kind,
            "id_last4": case.id_number[-4:] if case.id_number else None}


def case_detail(session: Session, case: Case) -> dict:
    """Everything an officer sees of a case, the internal timeline entries included."""
    now = utcnow()
    known = areas(session, [case.subdistrict_code, case.district_code])
    pending = workflow.pending_referral(session, case)
    photos = session.scalar(sa.select(sa.func.count(CasePhoto.id))
                            .where(CasePhoto.case_id == case.id))
    services = session.scalars(sa.select(CaseService).where(CaseService.case_id == case.id)
                               .order_by(CaseService.provided_on, CaseService.id))
    appointments = session.scalars(sa.select(Appointment).where(Appointment.case_id == case.id)
                                   .order_by(Appointment.at, Appointment.id))
    visits = session.scalars(sa.select(Visit).where(Visit.case_id == case.id)
                             .order_by(Visit.visited_on, Visit.id))
    return {
        **_summary(case, known, pending, now,
                   bool(workflow.visited_cases(session, [case.id]))),
        "situations": list(case.situations or []), "note": case.note,
        "first_action_at": case.first_action_at,
        "closed_at": case.closed_at, "erased_at": case.erased_at, "child": _child(case),
        "guardian": {"name": case.guardian_name, "phone": case.guardian_phone,
                     "relation": case.guardian_relation},
        "address": {"village": case.village, "village_no": case.village_no,
                    "subdistrict": area(case.subdistrict_code, known),
                    "district": area(case.district_code, known),
                    "latitude": case.latitude, "longitude": case.longitude,
                    "location_address": case.location_address},
        "consent": _consent(case), "photos_count": int(photos or 0),
        "closing_evidence": workflow.closing_evidence(session, case),
        "referrals": [referral(row, case.reference) for row in case.referrals],
        "services": [service(row) for row in services],
        "appointments": [appointment(row) for row in appointments],
        "visits": [visit(row) for row in visits],
        "timeline": [entry(row) for row in case.timeline],
    }
