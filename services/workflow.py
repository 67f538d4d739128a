"""The case workflow: stages, reopening, referrals, services, appointments, visits, notes.

One domain service for the API, the console and LINE (DESIGN.md §3). Every change here:

- checks the rule in one place (`TRANSITIONS`, `closing_evidence`, `access.may_change`);
- writes a timeline entry with who and when (internal ones are never shown to parents);
- keeps `due_at` (the next deadline) and `first_action_at` up to date;
- queues, in the same transaction, the LINE notifications the volunteer who reported the child,
  the linked parents and the officers concerned need (services.notifications; the bot renders
  them in each recipient's language when it sends them);
- writes an audit row.

Functions work in the caller's transaction and never commit. A refused change raises
`WorkflowError` with a code (and the HTTP status the API answers with).
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from models import (
    BANGKOK,
    Agency,
    Appointment,
    Case,
    CaseGuardian,
    CaseService,
    LineUser,
    Officer,
    Referral,
    TimelineEntry,
    Visit,
    utcnow,
)
from services import audit, deadlines
from services.access import Actor, in_area, may_change
from services.cases import SERVICES, STAGES
from services.notifications import notify

#: Stage changes an officer may make with `transition` (referrals and reopening have their own
#: actions: `referred` is entered by `refer`, `closed` is left only by `reopen`).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("verifying", "in_support"),
    "verifying": ("in_support",),
    "referred": ("verifying", "in_support"),
    "in_support": ("follow_up", "closed"),
    "follow_up": ("in_support", "closed"),
    "closed": (),
}
#: The stages in which the next deadline is a home visit.
VISIT_STAGES = ("in_support", "follow_up")
#: Timeline kinds that change the stage (their detail says "from" and "to").
STAGE_KINDS = ("verified", "status", "referred", "declined", "reopened")
#: Stages a case may be referred from (`referred` once the last referral was answered).
REFERABLE = ("received", "verifying", "referred", "in_support", "follow_up")
#: A referral's status once a withdrawal of consent stopped it before it was answered.
CANCELLED = "cancelled"
VISIT_OUTCOMES = ("found", "not_found", "moved", "back_in_school", "needs_more_help")
#: Visit outcomes that confirm the child got the service recorded before the visit.
CONFIRMING_OUTCOMES = ("found", "back_in_school")
#: The level of the office of each agency that takes a case in a given place.
AGENCY_LEVEL = {"LOCAL": "subdistrict", "PHC": "subdistrict", "LEARN": "district",
                "HEALTH": "district", "OBEC": "district", "EDU": "province",
                "SOCIAL": "province", "KKU": "province", "EEF": "province"}
TEXT_LIMIT = 2000
PLACE_LIMIT = 300  # appointments.place
#: NUL, other C0 controls except tab and newlines, DEL, and lone surrogates: never stored.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
#: Appointments are set for these years (a typo such as 9999 is refused, not overflowed).
APPOINTMENT_YEARS = (2000, 2100)


class WorkflowError(ValueError):
    """A change the workflow refuses. `status` is 409 for a conflict with the case's state,
    422 for a value that can never be right."""

    def __init__(self, code: str, message: str, status: int = 409):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


# -- helpers ---------------------------------------------------------------------------------

def _text(value: str | None, field: str, required: bool = False,
          limit: int = TEXT_LIMIT) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise WorkflowError(f"{field}_required", f"{field} is required", 422)
        return None
    if len(text) > limit:
        raise WorkflowError(f"{field}_too_long", f"{field}: at most {limit} characters", 422)
    if _CONTROL.search(text):
        raise WorkflowError(f"{field}_invalid", f"{field}: control characters are not allowed",
                            422)
    return text


def local_today(now: dt.datetime) -> dt.date:
    """The date in Khon Kaen at `now` (a service recorded at 06:00 there is today's)."""
    return now.astimezone(BANGKOK).date()


def _not_erased(case: Case) -> None:
    if case.erased_at is not None:
        raise WorkflowError("case_erased", "the case's personal data was erased")


def _require_change(actor: Actor, case: Case) -> None:
    _not_erased(case)
    if not may_change(actor, case):
        raise WorkflowError("not_owner", "only the agency that owns the case can change it")


def _entry(case: Case, kind: str, actor: Actor, now: dt.datetime, public: bool,
           **detail) -> TimelineEntry:
    entry = TimelineEntry(case_id=case.id, kind=kind, actor=actor.name, public=public, at=now,
                          detail={k: v for k, v in detail.items() if v is not None})
    case.timeline.append(entry)
    return entry


def _acted(case: Case, actor: Actor, now: dt.datetime) -> None:
    if actor.kind == "officer" and case.first_action_at is None:
        case.first_action_at = now
    case.updated_at = now


def agency_area(agency_code: str, case: Case) -> str:
    """The area code of the office of `agency_code` that serves the case's place."""
    level = AGENCY_LEVEL.get(agency_code, "province")
    if level == "subdistrict":
        return case.subdistrict_code
    if level == "district":
        return case.district_code
    return case.district_code[:2]


def due_after(case: Case, session: Session, now: dt.datetime | None = None
              ) -> dt.datetime | None:
    """The next deadline of a case in its current stage (None once closed or erased), from its
    history and the deadlines of the agencies concerned (services.deadlines), so recomputing
    it after an agency changes its deadlines gives the same answer as the change that set it.

    - `received`, `verifying`: checked within `verify` days of the report (or reopening);
    - `referred`, waiting: answered within `referral` days (the receiving agency's);
    - `referred`, accepted: the new owner acts within `first_action` days of the acceptance; its
      first service, appointment, officer's home visit or stage change meets that deadline, and
      from then on the child is visited within `visit` days of that action or the last visit;
    - `in_support`, `follow_up`: visited within `visit` days of the latest visit's date (a
      visit entered late counts from the day it was made), or of the case entering these two
      stages when that is later. Moving between them does not restart the 30 days."""
    if case.stage == "closed" or case.erased_at is not None:
        return None
    now = now or utcnow()
    owner = case.owner_agency_code
    if case.stage in ("received", "verifying"):
        reopened = _last_entry(session, case, ("reopened",))
        start = max(m for m in (case.created_at, reopened) if m is not None)
        return start + deadlines.delta(session, owner, "verify")
    if case.stage == "referred":
        pending = pending_referral(session, case)
        if pending is not None:
            return pending.created_at + deadlines.delta(session, pending.to_agency_code,
                                                        "referral")
        accepted = session.execute(
            sa.select(Referral.decided_at, Referral.to_agency_code)
            .where(Referral.case_id == case.id, Referral.status == "accepted",
                   Referral.decided_at.is_not(None))
            .order_by(Referral.decided_at.desc(), Referral.id.desc()).limit(1)).first()
        if accepted is None:
            return now + deadlines.delta(session, owner, "first_action")
        acted = first_action_after(session, case, accepted.to_agency_code, accepted.decided_at)
        if acted is None:
            return accepted.decided_at + deadlines.delta(session, owner, "first_action")
        moments = [acted, last_visit_moment(session, case)]
        return max(m for m in moments if m is not None) + deadlines.delta(session, owner,
                                                                          "visit")
    moments = [m for m in (last_visit_moment(session, case),
                           _entered_visit_stages(session, case)) if m is not None]
    return max(moments, default=now) + deadlines.delta(session, owner, "visit")


def first_action_after(session: Session, case: Case, agency_code: str, since: dt.datetime
                       ) -> dt.datetime | None:
    """When `agency_code` first acted on the case at or after `since` (its acceptance of a
    referral): a service or an appointment it recorded, or a home visit by one of its
    officers. (A stage change leaves `referred`, so due_after never needs to look for one.)"""
    service = (sa.select(sa.func.min(CaseService.recorded_at))
               .where(CaseService.case_id == case.id, CaseService.agency_code == agency_code,
                      CaseService.recorded_at >= since))
    appointment = (sa.select(sa.func.min(Appointment.created_at))
                   .where(Appointment.case_id == case.id,
                          Appointment.agency_code == agency_code,
                          Appointment.created_at >= since))
    visit = (sa.select(sa.func.min(Visit.created_at))
             .join(Officer, Officer.username == Visit.visitor)
             .where(Visit.case_id == case.id, Visit.visitor_kind == "officer",
                    Officer.agency_code == agency_code, Visit.created_at >= since))
    row = session.execute(sa.select(service.scalar_subquery(), appointment.scalar_subquery(),
                                    visit.scalar_subquery())).one()
    return min((m for m in row if m is not None), default=None)


def visit_moment(visited_on: dt.date, entered_at: dt.datetime) -> dt.datetime:
    """When a visit counts from: its entry, or the end of the day it was made (in Khon Kaen)
    when it was entered on a later day."""
    end_of_day = dt.datetime.combine(visited_on + dt.timedelta(days=1), dt.time(0),
                                     tzinfo=BANGKOK) - dt.timedelta(seconds=1)
    return min(entered_at, end_of_day)


def last_visit_moment(session: Session, case: Case) -> dt.datetime | None:
    """The latest `visit_moment` of the case's visits (None without one)."""
    rows = session.execute(sa.select(Visit.visited_on, Visit.created_at)
                           .where(Visit.case_id == case.id)).all()
    return max((visit_moment(day, at) for day, at in rows), default=None)


def _entered_visit_stages(session: Session, case: Case) -> dt.datetime | None:
    """When the case last came into `in_support`/`follow_up` from another stage: walking its
    stage changes back from the latest while they were moves between those two stages."""
    entries = session.execute(
        sa.select(TimelineEntry.at, TimelineEntry.detail)
        .where(TimelineEntry.case_id == case.id, TimelineEntry.kind.in_(STAGE_KINDS))
        .order_by(TimelineEntry.at.desc(), TimelineEntry.id.desc())).all()
    entered = None
    for at, detail in entries:
        entered = at
        if (detail or {}).get("from") not in VISIT_STAGES:
            break
    return entered


def _last_entry(session: Session, case: Case, kinds: tuple[str, ...]) -> dt.datetime | None:
    return session.scalar(
        sa.select(sa.func.max(TimelineEntry.at))
        .where(TimelineEntry.case_id == case.id, TimelineEntry.kind.in_(kinds)))


def set_due(case: Case, due: dt.datetime | None, now: dt.datetime | None = None,
            touch: bool = True) -> None:
    """Set a case's next deadline. A deadline moved ahead ends an escalation (a later one
    starts again from the district). `touch=False` keeps `updated_at` (a recomputation is
    not work on the case)."""
    now = now or utcnow()
    case.due_at = due
    if due is None or due > now:
        case.escalation = 0
    if not touch:
        flag_modified(case, "updated_at")  # written as it is, so onupdate does not bump it


def _reset_due(session: Session, case: Case, now: dt.datetime) -> None:
    session.flush()
    set_due(case, due_after(case, session, now), now)


def is_overdue(case: Case, now: dt.datetime | None = None) -> bool:
    return case.due_at is not None and case.due_at < (now or utcnow()) and case.stage != "closed"


def visited_cases(session: Session, case_ids: list[int]) -> set[int]:
    """Which of these cases have had a home visit (a self-reported case without one needs a
    volunteer's or officer's visit)."""
    if not case_ids:
        return set()
    return set(session.scalars(sa.select(Visit.case_id).where(Visit.case_id.in_(case_ids))
                               .distinct()))


def pending_referral(session: Session, case: Case) -> Referral | None:
    return session.scalar(sa.select(Referral).where(Referral.case_id == case.id,
                                                    Referral.status == "pending"))


# -- notifications ---------------------------------------------------------------------------

def agency_fields(session: Session, code: str) -> dict:
    agency = session.get(Agency, code)
    if agency is None:
        return {"agency": code}
    return {"agency": code, "agency_name_th": agency.short_name_th,
            "agency_name_en": agency.name_en, "agency_phone": agency.phone}


def _tell_people(session: Session, case: Case, event: str, **params) -> None:
    """Queue an update for the reporting volunteer and every linked parent."""
    base = {"case_id": case.id, "reference": case.reference, "child": case.child_name,
            "stage": case.stage, "event": event,
            **agency_fields(session, case.owner_agency_code), **params}
    reporter = session.get(LineUser, case.reporter_id) if case.reporter_id else None
    guardians = list(session.scalars(
        sa.select(LineUser).join(CaseGuardian, CaseGuardian.line_user_id == LineUser.id)
        .where(CaseGuardian.case_id == case.id, CaseGuardian.unlinked_at.is_(None))))
    told: set[str] = set()
    for parent in guardians:
        if parent.line_user_id not in told:
            notify(session, parent.line_user_id, "case.parent_update", **base)
            told.add(parent.line_user_id)
    if reporter is not None and reporter.line_user_id not in told:
        kind = "case.parent_update" if case.self_reported else "case.volunteer_update"
        notify(session, reporter.line_user_id, kind, **base)


def _tell_officers(session: Session, case: Case, agency_code: str, kind: str,
                   exclude: str | None = None, **params) -> int:
    """Queue a notification to the LINE-linked officers of an agency whose scope covers the
    case (and to the area's supervisors of that agency)."""
    rows = session.execute(
        sa.select(Officer.area_code, LineUser.line_user_id)
        .join(LineUser, LineUser.id == Officer.line_user_id)
        .where(Officer.agency_code == agency_code, Officer.active.is_(True),
               Officer.username != (exclude or ""))).all()
    count = 0
    for area_code, line_id in rows:
        if in_area(case, area_code):
            notify(session, line_id, kind, case_id=case.id, reference=case.reference,
                   child=case.child_name, stage=case.stage, **params)
            count += 1
    return count


# -- stages ----------------------------------------------------------------------------------

def transition(session: Session, actor: Actor, case: Case, to: str, note: str | None = None,
               now: dt.datetime | None = None) -> TimelineEntry:
    """Move a case to stage `to` if the rules allow it."""
    now = now or utcnow()
    if to not in STAGES:
        raise WorkflowError("unknown_stage", f"unknown stage {to!r}", 422)
    _require_change(actor, case)
    note = _text(note, "note")
    if to == "referred":
        raise WorkflowError("use_referral", "a case is referred with a referral, not a "
                            "transition", 422)
    if to == case.stage:
        raise WorkflowError("same_stage", f"the case is already {to}")
    if to not in TRANSITIONS[case.stage]:
        if case.stage == "closed":
            raise WorkflowError("case_closed", "a closed case is reopened, not moved")
        raise WorkflowError("transition_not_allowed",
                            f"a case cannot go from {case.stage} to {to}")
    if case.stage == "referred" and pending_referral(session, case) is not None:
        raise WorkflowError("referral_pending", "a referral of this case waits for an answer")
    if to == "closed":
        evidence = closing_evidence(session, case)
        if not evidence["service"]:
            raise WorkflowError("evidence_required", "record a service before closing")
        if not (evidence["visit"] or evidence["parent_confirmation"]):
            raise WorkflowError("evidence_required", "closing needs a home visit or the "
                                "parent's confirmation after the service")
        case.closed_at = now
    previous = case.stage
    case.stage = to
    _acted(case, actor, now)
    kind = "verified" if to == "verifying" else "status"
    entry = _entry(case, kind, actor, now, public=True, **{"from": previous, "to": to})
    if note:
        _entry(case, "note", actor, now, public=False, text=note)
    _reset_due(session, case, now)
    _tell_people(session, case, "stage")
    audit.record(session, actor, "case.transition", case, **{"from": previous, "to": to})
    return entry


def reopen(session: Session, actor: Actor, case: Case, reason: str,
           now: dt.datetime | None = None) -> TimelineEntry:
    """Take a closed case back to `verifying`, with the reason on the timeline."""
    now = now or utcnow()
    _require_change(actor, case)
    reason = _text(reason, "reason", required=True)
    if case.stage != "closed":
        raise WorkflowError("not_closed", "only a closed case can be reopened")
    case.stage = "verifying"
    case.closed_at = None
    _acted(case, actor, now)
    entry = _entry(case, "reopened", actor, now, public=True, **{"from": "closed",
                                                                 "to": "verifying"})
    note = _entry(case, "note", actor, now, public=False, text=reason)
    set_due(case, now + deadlines.delta(session, case.owner_agency_code, "verify"), now)
    _tell_people(session, case, "stage")
    session.flush()  # the reason stays on the timeline; the audit row names its entry
    audit.record(session, actor, "case.reopen", case, note_id=note.id)
    return entry


def closing_evidence(session: Session, case: Case) -> dict[str, bool]:
    """What a case has towards closing: a service, and after it a confirming home visit or
    the parent's confirmation of a service."""
    first_service = session.scalar(
        sa.select(sa.func.min(CaseService.provided_on)).where(CaseService.case_id == case.id))
    visit = first_service is not None and session.scalar(
        sa.select(sa.func.count()).select_from(Visit)
        .where(Visit.case_id == case.id, Visit.outcome.in_(CONFIRMING_OUTCOMES),
               Visit.visited_on >= first_service)) > 0
    confirmed = session.scalar(
        sa.select(sa.func.count()).select_from(CaseService)
        .where(CaseService.case_id == case.id, CaseService.confirmed_at.is_not(None))) > 0
    return {"service": first_service is not None, "visit": bool(visit),
            "parent_confirmation": confirmed}


# -- referrals -------------------------------------------------------------------------------

def refer(session: Session, actor: Actor, case: Case, to_agency: str, reason: str,
          now: dt.datetime | None = None) -> Referral:
    """Ask another agency to take the case; the owner stays until it accepts."""
    now = now or utcnow()
    _require_change(actor, case)
    reason = _text(reason, "reason", required=True)
    if session.get(Agency, to_agency or "") is None:
        raise WorkflowError("unknown_agency", f"unknown agency code {to_agency!r}", 422)
    if to_agency == case.owner_agency_code:
        raise WorkflowError("same_agency", "the case already belongs to that agency", 422)
    if pending_referral(session, case) is not None:
        raise WorkflowError("referral_pending", "a referral of this case waits for an answer")
    if case.stage not in REFERABLE:
        raise WorkflowError("transition_not_allowed", f"a {case.stage} case cannot be referred")
    _may_share(session, case)
    referral = Referral(case_id=case.id, from_agency_code=case.owner_agency_code,
                        from_area_code=case.owner_area_code, to_agency_code=to_agency,
                        to_area_code=agency_area(to_agency, case), from_stage=case.stage,
                        reason=reason, status="pending", created_by=actor.name, created_at=now)
    session.add(referral)
    session.flush()
    previous = case.stage
    case.stage = "referred"
    _acted(case, actor, now)
    _entry(case, "referred", actor, now, public=True, referral_id=referral.id,
           **{"from": previous, "to": "referred", "to_agency": to_agency})
    _entry(case, "note", actor, now, public=False, text=reason, referral_id=referral.id)
    _reset_due(session, case, now)
    _tell_people(session, case, "stage", to_agency=to_agency)
    _tell_officers(session, case, to_agency, "referral.received", exclude=actor.name,
                   referral_id=referral.id, from_agency=referral.from_agency_code,
                   reason=reason)
    audit.record(session, actor, "referral.create", case, referral_id=referral.id,
                 to_agency=to_agency)
    return referral


def _may_share(session: Session, case: Case) -> None:
    """Refuse when the guardian's consent does not (or no longer) cover sharing the case with
    other agencies (services.consent)."""
    from services.consent import sharing_refused

    refused = sharing_refused(session, case)
    if refused == "consent_withdrawn":
        raise WorkflowError("consent_withdrawn", "the guardian withdrew consent: the case is "
                            "no longer shared with other agencies")
    if refused is not None:
        raise WorkflowError(refused, "the guardian's consent does not cover sharing the case "
                            "with other agencies")


def _not_pending(referral: Referral) -> WorkflowError:
    if referral.status == CANCELLED:
        return WorkflowError("consent_withdrawn", "the guardian withdrew consent: the referral "
                             "was cancelled")
    return WorkflowError("referral_not_pending", f"the referral is already {referral.status}")


def _decide(session: Session, actor: Actor, referral: Referral, status: str,
            now: dt.datetime, reason: str | None = None) -> None:
    """Answer a pending referral once: the receiving agency's officers and supervisors (or a
    province administrator) may, while the guardian's consent covers sharing; a conditional
    UPDATE makes two answers at the same moment impossible (the second finds it answered),
    and an answer racing a withdrawal of consent finds the referral cancelled."""
    _not_erased(referral.case)
    if actor.kind != "officer" or (actor.agency_code != referral.to_agency_code
                                   and actor.role != "admin"):
        raise WorkflowError("not_receiver", "only the receiving agency can answer a referral")
    if referral.status != "pending":
        raise _not_pending(referral)
    _may_share(session, referral.case)
    taken = session.execute(
        sa.update(Referral).where(Referral.id == referral.id, Referral.status == "pending")
        .values(status=status, decided_by=actor.name, decided_at=now, decision_reason=reason)
        .execution_options(synchronize_session=False)).rowcount
    if taken != 1:
        session.refresh(referral)
        raise _not_pending(referral)
    session.refresh(referral)


def accept_referral(session: Session, actor: Actor, referral: Referral,
                    now: dt.datetime | None = None) -> Referral:
    """The receiving agency takes the case: it becomes the owner."""
    now = now or utcnow()
    _decide(session, actor, referral, "accepted", now)
    case = referral.case
    previous_owner = case.owner_agency_code
    case.owner_agency_code = referral.to_agency_code
    case.owner_area_code = referral.to_area_code
    case.updated_at = now
    _entry(case, "accepted", actor, now, public=True, referral_id=referral.id,
           agency=referral.to_agency_code, from_agency=previous_owner)
    set_due(case, now + deadlines.delta(session, case.owner_agency_code, "first_action"), now)
    _tell_people(session, case, "accepted")
    _tell_officers(session, case, previous_owner, "referral.answered", exclude=actor.name,
                   referral_id=referral.id, to_agency=referral.to_agency_code,
                   answer="accepted")
    audit.record(session, actor, "referral.accept", case, referral_id=referral.id)
    return referral


def decline_referral(session: Session, actor: Actor, referral: Referral, reason: str,
                     now: dt.datetime | None = None) -> Referral:
    """The receiving agency declines, with a reason; the case returns to its earlier stage."""
    now = now or utcnow()
    reason = _text(reason, "reason", required=True)
    _decide(session, actor, referral, "declined", now, reason)
    case = referral.case
    case.stage = referral.from_stage
    case.updated_at = now
    _entry(case, "declined", actor, now, public=False, referral_id=referral.id,
           agency=referral.to_agency_code, reason=reason,
           **{"from": "referred", "to": referral.from_stage})
    _reset_due(session, case, now)
    _tell_people(session, case, "stage")  # back with the office that had it (no reason told)
    _tell_officers(session, case, referral.from_agency_code, "referral.answered",
                   exclude=actor.name, referral_id=referral.id,
                   to_agency=referral.to_agency_code, answer="declined", reason=reason)
    audit.record(session, actor, "referral.decline", case, referral_id=referral.id,
                 reason=reason)
    return referral


def cancel_for_withdrawal(session: Session, actor: Actor, case: Case,
                          now: dt.datetime | None = None) -> list[Referral]:
    """Cancel the case's referrals waiting for an answer, because the guardian withdrew
    consent (services.consent.withdraw): each becomes `cancelled` (a conditional UPDATE, so an
    answer given at the same moment wins or loses whole), the case returns to the stage it was
    referred from, an internal timeline entry says why, and the receiving agency's officers
    are told. Returns the referrals cancelled."""
    now = now or utcnow()
    cancelled = []
    for referral in session.scalars(sa.select(Referral).where(
            Referral.case_id == case.id, Referral.status == "pending").order_by(Referral.id)):
        taken = session.execute(
            sa.update(Referral).where(Referral.id == referral.id, Referral.status == "pending")
            .values(status=CANCELLED, decided_by=actor.name, decided_at=now,
                    decision_reason=None)
            .execution_options(synchronize_session=False)).rowcount
        session.refresh(referral)
        if taken != 1:
            continue  # answered meanwhile: that answer stands
        cancelled.append(referral)
        if case.stage == "referred":
            case.stage = referral.from_stage
        _entry(case, "referral_cancelled", actor, now, public=False, referral_id=referral.id,
               to_agency=referral.to_agency_code, because="consent_withdrawn",
               **{"from": "referred", "to": case.stage})
        _tell_officers(session, case, referral.to_agency_code, "referral.cancelled",
                       exclude=actor.name, referral_id=referral.id,
                       from_agency=referral.from_agency_code, because="consent_withdrawn")
        audit.record(session, actor, "referral.cancel", case, referral_id=referral.id,
                     because="consent_withdrawn")
    if cancelled:
        case.updated_at = now
        _reset_due(session, case, now)
    return cancelled


def cancelled_for_agency(session: Session, actor: Actor, referral_id: int) -> Referral | None:
    """A referral to the officer's agency that a withdrawal of consent cancelled (the case is
    out of their scope since): so that answering it says why (`consent_withdrawn`) instead
    of "not found". Nothing of the case is shown with it."""
    if actor.kind != "officer" or not 0 < referral_id <= 2**63 - 1:
        return None
    return session.scalar(sa.select(Referral).where(
        Referral.id == referral_id, Referral.status == CANCELLED,
        Referral.to_agency_code == actor.agency_code))


def refuse_cancelled(session: Session, actor: Actor, referral_id: int) -> None:
    """Raise `consent_withdrawn` (409) if `cancelled_for_agency` finds the referral."""
    if cancelled_for_agency(session, actor, referral_id) is not None:
        raise WorkflowError("consent_withdrawn", "the guardian withdrew consent: the referral "
                            "was cancelled")


# -- services, appointments, visits, notes ---------------------------------------------------

def _open_case(case: Case) -> None:
    if case.stage == "closed":
        raise WorkflowError("case_closed", "the case is closed: reopen it first")


def record_service(session: Session, actor: Actor, case: Case, code: str,
                   provided_on: dt.date | None = None, note: str | None = None,
                   now: dt.datetime | None = None) -> CaseService:
    """A service given to the child; the parents are told and asked to confirm it."""
    now = now or utcnow()
    if code not in SERVICES:
        raise WorkflowError("unknown_service", f"unknown service code {code!r}", 422)
    _require_change(actor, case)
    _open_case(case)
    note = _text(note, "note")
    today = local_today(now)
    provided_on = provided_on or today
    if provided_on > today + dt.timedelta(days=1):
        raise WorkflowError("date_in_future", "a service is recorded once it is given", 422)
    service = CaseService(case_id=case.id, code=code, agency_code=actor.agency_code or
                          case.owner_agency_code, provided_on=provided_on, note=note,
                          recorded_by=actor.name, recorded_at=now)
    session.add(service)
    session.flush()
    _acted(case, actor, now)
    _entry(case, "service", actor, now, public=True, service_id=service.id, service=code,
           provided_on=provided_on.isoformat())
    if note:
        _entry(case, "note", actor, now, public=False, text=note, service_id=service.id)
    _reset_due(session, case, now)  # the new owner's first action meets its deadline
    _tell_people(session, case, "service", service=code, service_id=service.id,
                 provided_on=provided_on.isoformat())
    audit.record(session, actor, "case.service", case, service=code, service_id=service.id)
    return service


def confirm_service(session: Session, actor: Actor, case: Case, service: CaseService,
                    now: dt.datetime | None = None) -> bool:
    """A linked parent says the service was received (once; True when newly recorded)."""
    now = now or utcnow()
    if service.case_id != case.id:
        raise WorkflowError("not_found", "no such service on this case", 404)
    if service.confirmed_at is not None:
        return False
    service.confirmed_at, service.confirmed_by = now, actor.name
    case.updated_at = now
    _entry(case, "confirmation", actor, now, public=True, service_id=service.id,
           service=service.code)
    _tell_officers(session, case, case.owner_agency_code, "case.parent_confirmed",
                   service=service.code)
    audit.record(session, actor, "case.confirmation", case, service_id=service.id)
    return True


def report_not_received(session: Session, actor: Actor, case: Case, service: CaseService,
                        now: dt.datetime | None = None) -> None:
    """A linked parent says a recorded service has not reached the child: an internal entry,
    and the officers in charge are told so they can check."""
    now = now or utcnow()
    if service.case_id != case.id:
        raise WorkflowError("not_found", "no such service on this case", 404)
    case.updated_at = now
    _entry(case, "not_received", actor, now, public=False, service_id=service.id,
           service=service.code)
    _tell_officers(session, case, case.owner_agency_code, "case.parent_not_received",
                   service=service.code)
    audit.record(session, actor, "case.not_received", case, service_id=service.id)


def set_appointment(session: Session, actor: Actor, case: Case, at: dt.datetime,
                    place: str | None = None, purpose: str | None = None,
                    now: dt.datetime | None = None) -> Appointment:
    """A dated appointment; the parents are told when and where."""
    now = now or utcnow()
    if at.tzinfo is None:
        raise WorkflowError("naive_time", "give the time with its offset (+07:00)", 422)
    if not APPOINTMENT_YEARS[0] <= at.year <= APPOINTMENT_YEARS[1]:
        raise WorkflowError("date_out_of_range", "the appointment's year is not plausible", 422)
    _require_change(actor, case)
    _open_case(case)
    if at < now - dt.timedelta(hours=1):
        raise WorkflowError("date_in_past", "an appointment is set for a time to come", 422)
    place = _text(place, "place", limit=PLACE_LIMIT)
    purpose = _text(purpose, "purpose")
    appointment = Appointment(case_id=case.id, at=at, place=place, purpose=purpose,
                              agency_code=actor.agency_code or case.owner_agency_code,
                              created_by=actor.name, created_at=now)
    session.add(appointment)
    session.flush()
    _acted(case, actor, now)
    _entry(case, "appointment", actor, now, public=True, appointment_id=appointment.id,
           at=at.astimezone(dt.UTC).isoformat(), place=place)
    _reset_due(session, case, now)  # the new owner's first action meets its deadline
    _tell_people(session, case, "appointment", appointment_id=appointment.id,
                 at=at.astimezone(dt.UTC).isoformat(), place=place)
    audit.record(session, actor, "case.appointment", case, appointment_id=appointment.id)
    return appointment


def record_visit(session: Session, actor: Actor, case: Case, outcome: str,
                 visited_on: dt.date | None = None, note: str | None = None,
                 latitude: float | None = None, longitude: float | None = None,
                 photo_id: int | None = None, now: dt.datetime | None = None) -> Visit:
    """A home visit by an officer (of the owning agency or the area) or by the volunteer who
    reported the child. The officers in charge are told of a volunteer's visit."""
    now = now or utcnow()
    if outcome not in VISIT_OUTCOMES:
        raise WorkflowError("unknown_outcome", f"unknown visit outcome {outcome!r}", 422)
    _not_erased(case)
    if actor.kind == "officer":
        _require_change(actor, case)
    elif not (actor.kind == "volunteer" and actor.line_user_id == case.reporter_id):
        raise WorkflowError("not_owner", "only the reporting volunteer or an officer in charge "
                            "records a visit")
    _open_case(case)
    note = _text(note, "note")
    today = local_today(now)
    visited_on = visited_on or today
    if visited_on > today + dt.timedelta(days=1):
        raise WorkflowError("date_in_future", "a visit is recorded once it is made", 422)
    if visited_on < local_today(case.created_at) - dt.timedelta(days=1):
        raise WorkflowError("date_before_report", "the visit is dated before the report", 422)
    visit = Visit(case_id=case.id, visited_on=visited_on, outcome=outcome, note=note,
                  visitor=actor.name, visitor_kind=actor.kind, latitude=latitude,
                  longitude=longitude, photo_id=photo_id, created_at=now)
    session.add(visit)
    session.flush()
    _acted(case, actor, now)
    _entry(case, "visit", actor, now, public=True, visit_id=visit.id, outcome=outcome,
           visited_on=visited_on.isoformat())
    if note:
        _entry(case, "note", actor, now, public=False, text=note, visit_id=visit.id)
    _reset_due(session, case, now)  # the next visit counts from this one's date
    if actor.kind != "officer":
        _tell_officers(session, case, case.owner_agency_code, "case.visit_recorded",
                       outcome=outcome, visited_on=visited_on.isoformat())
    audit.record(session, actor, "case.visit", case, visit_id=visit.id, outcome=outcome)
    return visit


def add_note(session: Session, actor: Actor, case: Case, text: str,
             now: dt.datetime | None = None) -> TimelineEntry:
    """An internal note (never shown to parents); allowed on a closed case too."""
    now = now or utcnow()
    _require_change(actor, case)
    text = _text(text, "text", required=True)
    case.updated_at = now
    entry = _entry(case, "note", actor, now, public=False, text=text)
    audit.record(session, actor, "case.note", case)
    return entry
