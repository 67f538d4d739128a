"""Follow-up that does not let children slip: the morning's escalations, reminders and digests.

Run by the scheduler (bot.scheduler) once a day at 08:00 Asia/Bangkok, or by
`flask --app wsgi scheduler --once --at ISO-TIME`. Everything here takes `now` as an argument
(no clock of its own), works in the caller's transaction and never commits.

- `escalate`: a case overdue by more than 7 days past its deadline is escalated to the
  supervisors of its district, by more than 21 days to the province's; each step written on
  the timeline once (a conditional UPDATE: two runs at once write it once). The step ends when
  the deadline moves ahead (services.workflow.set_due).
- `visit_reminders`: one reminder to the reporting volunteer per home visit due today or
  overdue — on the day it falls due, then once a week while it stays overdue.
- `appointment_reminders`: the linked parents of a child with an appointment tomorrow — or
  today, if the morning before was missed — that nobody was reminded of yet.
- `officer_digests`: one message per LINE-linked officer with overdue cases in scope: counts
  by stage and the five oldest; supervisors also get what was escalated to their level and the
  cases untouched for 30 days (data freshness).

Each message is queued with a unique key (`visit:<case>:<day>`, `appointment:<id>:<user>`,
`digest:<officer>:<day>`) and `quiet=True`, so QUIET_HOURS hold it and no run, repeated or
concurrent, queues it twice. Just before a visit or appointment reminder is sent, the sender
asks `still_due` whether it is still true (a case visited or closed overnight is not reminded
at 07:00).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import (
    BANGKOK,
    Appointment,
    AuditEntry,
    Case,
    CaseGuardian,
    LineUser,
    Officer,
    TimelineEntry,
)
from services.access import Actor, area_clause, scope_clause
from services.notifications import notify_once
from services.queue import STALE_AFTER, escalated_clause, overdue_clause, stale_clause

#: Escalation levels: past the deadline by more than this → shown to that level.
ESCALATION = ((1, "district", dt.timedelta(days=7)), (2, "province", dt.timedelta(days=21)))
LEVEL_NAMES = {0: None, 1: "district", 2: "province"}
#: An overdue visit is reminded again after this many days.
REMIND_AGAIN = dt.timedelta(days=7)
DIGEST_OLDEST = 5
BATCH = 500
FOLLOW_STAGES = ("in_support", "follow_up")


def local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(BANGKOK).date()


def day_start(day: dt.date) -> dt.datetime:
    """Midnight in Khon Kaen at the start of `day`, as an aware datetime."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=BANGKOK)


def is_stale(case: Case, now: dt.datetime) -> bool:
    """The rule of queue.stale_clause, for one case."""
    return (case.stage != "closed" and case.erased_at is None
            and case.updated_at < now - STALE_AFTER)


def supervisor_level(area_code: str) -> int:
    """The escalation level a supervisor's digest shows: a province's supervisors see what
    reached the province; district and subdistrict supervisors what reached the district."""
    return 2 if len(area_code) <= 2 else 1


# -- escalation ------------------------------------------------------------------------------

def escalate(session: Session, now: dt.datetime) -> dict[str, int]:
    """Escalate the cases overdue long enough; each step on the timeline once."""
    done = {"district": 0, "province": 0}
    for level, name, after in ESCALATION:
        last_id = 0
        while True:
            rows = session.execute(
                sa.select(Case.id, Case.due_at)
                .where(Case.id > last_id, Case.stage != "closed", Case.due_at.is_not(None),
                       Case.due_at < now - after, Case.escalation < level)
                .order_by(Case.id).limit(BATCH)).all()
            if not rows:
                break
            last_id = rows[-1].id
            due = {row.id: row.due_at for row in rows}
            taken = session.scalars(
                sa.update(Case)
                .where(Case.id.in_(list(due)), Case.escalation < level,
                       Case.due_at < now - after)
                .values(escalation=level, updated_at=Case.updated_at)  # not a touch
                .returning(Case.id)
                .execution_options(synchronize_session=False)).all()
            for case_id in taken:
                days = (now - due[case_id]).days
                session.add(TimelineEntry(case_id=case_id, kind="escalated", actor="system",
                                          public=False, at=now,
                                          detail={"level": name, "days_overdue": days}))
                session.add(AuditEntry(at=now, actor="scheduler", actor_kind="system",
                                       action="case.escalate", case_id=case_id,
                                       detail={"via": "scheduler", "level": name,
                                               "days_overdue": days}))
            done[name] += len(taken)
            session.flush()
    return done


# -- volunteers: home visits due -------------------------------------------------------------

def _due_for_reminder(case: Case, today: dt.date) -> bool:
    last = case.visit_reminded_on
    due_day = local_day(case.due_at)
    return last is None or last < due_day or last <= today - REMIND_AGAIN


def visit_reminders(session: Session, now: dt.datetime) -> int:
    """Remind each reporting volunteer of each home visit due today or overdue."""
    today = local_day(now)
    tomorrow = day_start(today + dt.timedelta(days=1))
    queued = 0
    last_id = 0
    while True:
        rows = session.execute(
            sa.select(Case, LineUser.line_user_id)
            .join(LineUser, LineUser.id == Case.reporter_id)
            .where(Case.id > last_id, Case.stage.in_(FOLLOW_STAGES),
                   Case.erased_at.is_(None), Case.self_reported.is_(False),
                   Case.due_at < tomorrow,
                   LineUser.role == "volunteer", LineUser.followed.is_(True))
            .order_by(Case.id).limit(BATCH)).all()
        if not rows:
            return queued
        last_id = rows[-1][0].id
        for case, line_id in rows:
            if not _due_for_reminder(case, today):
                continue
            overdue_days = max((today - local_day(case.due_at)).days, 0)
            if notify_once(session, f"visit:{case.id}:{today.isoformat()}", line_id,
                           "reminder.visit", quiet=True, case_id=case.id,
                           reference=case.reference, child=case.child_name,
                           due_on=local_day(case.due_at).isoformat(),
                           overdue_days=overdue_days):
                queued += 1
            session.execute(
                sa.update(Case).where(Case.id == case.id)
                .values(visit_reminded_on=today, updated_at=Case.updated_at)
                .execution_options(synchronize_session=False))
        session.flush()


# -- parents: appointments today or tomorrow -------------------------------------------------

def _parents(session: Session, case: Case) -> list[str]:
    """The LINE user ids of the case's linked parents who still follow Samoe."""
    ids = list(session.scalars(
        sa.select(LineUser.line_user_id)
        .join(CaseGuardian, CaseGuardian.line_user_id == LineUser.id)
        .where(CaseGuardian.case_id == case.id, CaseGuardian.unlinked_at.is_(None),
               LineUser.followed.is_(True))))
    if case.self_reported and case.reporter_id:
        reporter = session.get(LineUser, case.reporter_id)
        if reporter is not None and reporter.followed:
            ids.append(reporter.line_user_id)
    return list(dict.fromkeys(ids))


def appointment_reminders(session: Session, now: dt.datetime) -> int:
    """Tell the parents of each appointment still to come today or tomorrow that nobody was
    reminded of yet (once per parent): the day before as a rule, and on the day itself when
    the morning before was missed (the worker down, or the appointment made after that
    morning's run) — a late reminder still helps. The payload says which (`day`)."""
    from services.workflow import agency_fields  # workflow imports this module's clauses

    today = local_day(now)
    rows = session.execute(
        sa.select(Appointment, Case).join(Case, Case.id == Appointment.case_id)
        .where(Appointment.reminded_at.is_(None), Appointment.cancelled_at.is_(None),
               Appointment.at > now,
               Appointment.at < day_start(today + dt.timedelta(days=2)),
               Case.stage != "closed", Case.erased_at.is_(None))
        .order_by(Appointment.id)).all()
    queued = 0
    for appointment, case in rows:
        day = "today" if local_day(appointment.at) == today else "tomorrow"
        told = False
        for line_id in _parents(session, case):
            if notify_once(session, f"appointment:{appointment.id}:{line_id}", line_id,
                           "reminder.appointment", quiet=True, case_id=case.id,
                           appointment_id=appointment.id, day=day,
                           reference=case.reference, child=case.child_name,
                           at=appointment.at.astimezone(dt.UTC).isoformat(),
                           place=appointment.place, purpose=appointment.purpose,
                           **agency_fields(session, appointment.agency_code
                                            or case.owner_agency_code)):
                queued += 1
                told = True
        if told:
            appointment.reminded_at = now
    session.flush()
    return queued


# -- officers: the morning digest ------------------------------------------------------------

def _oldest(session: Session, where, now: dt.datetime) -> list[dict]:
    cases = session.scalars(sa.select(Case).where(where)
                            .order_by(Case.due_at, Case.id).limit(DIGEST_OLDEST))
    return [{"case_id": c.id, "reference": c.reference, "child": c.child_name,
             "stage": c.stage, "days_overdue": max((now - c.due_at).days, 0),
             "escalation": LEVEL_NAMES.get(c.escalation)} for c in cases]


def digest_for(session: Session, officer: Officer, now: dt.datetime) -> dict | None:
    """What one officer's morning digest says, or None when there is nothing to say."""
    actor = Actor.for_officer(officer, via="scheduler")
    scope = scope_clause(actor)
    overdue = sa.and_(scope, overdue_clause(now))
    by_stage = Counter(dict(session.execute(
        sa.select(Case.stage, sa.func.count()).where(overdue).group_by(Case.stage)).all()))
    digest = {"officer_id": officer.id, "overdue": sum(by_stage.values()),
              "by_stage": dict(sorted(by_stage.items())), "escalated": 0, "stale": 0,
              "supervisor": actor.sees_whole_area}
    oldest_where = overdue
    if actor.sees_whole_area:
        level = supervisor_level(officer.area_code)
        escalated = sa.and_(area_clause(officer.area_code), escalated_clause(level))
        digest["escalated"] = session.scalar(
            sa.select(sa.func.count()).select_from(Case).where(escalated))
        digest["level"] = LEVEL_NAMES[level]
        digest["stale"] = session.scalar(
            sa.select(sa.func.count()).select_from(Case)
            .where(area_clause(officer.area_code), stale_clause(now)))
        if digest["escalated"]:
            oldest_where = sa.and_(escalated, Case.due_at.is_not(None))
    if not (digest["overdue"] or digest["escalated"] or digest["stale"]):
        return None
    digest["oldest"] = _oldest(session, oldest_where, now) if (
        digest["overdue"] or digest["escalated"]) else []
    return digest


def officer_digests(session: Session, now: dt.datetime) -> int:
    """One morning digest per LINE-linked, active officer who has something overdue."""
    today = local_day(now).isoformat()
    officers = session.execute(
        sa.select(Officer, LineUser.line_user_id)
        .join(LineUser, LineUser.id == Officer.line_user_id)
        .where(Officer.active.is_(True), LineUser.followed.is_(True))
        .order_by(Officer.id)).all()
    queued = 0
    for officer, line_id in officers:
        digest = digest_for(session, officer, now)
        if digest is not None and notify_once(
                session, f"digest:{officer.id}:{today}", line_id, "reminder.digest",
                quiet=True, **digest):
            queued += 1
    session.flush()
    return queued


# -- just before sending ---------------------------------------------------------------------

#: The reminders checked again just before they are sent (bot.sender): held through quiet
#: hours (or behind a user's other messages), they may have stopped being true meanwhile.
RECHECKED = ("reminder.visit", "reminder.appointment")


def still_due(session: Session, kind: str, payload: dict, now: dt.datetime) -> dict | None:
    """The reminder's payload as it should read at `now`, or None when it is no longer true:
    a visit reminder for a case visited (its deadline moved past today), closed, erased or no
    longer in the visit stages since it was queued; an appointment reminder for an appointment
    cancelled, past, or of a case closed or erased. The days overdue, and "today" or
    "tomorrow", are counted again for `now`. Other kinds are returned as they are."""
    today = local_day(now)
    if kind == "reminder.visit":
        case = session.get(Case, payload.get("case_id") or 0)
        if (case is None or case.erased_at is not None or case.stage not in FOLLOW_STAGES
                or case.due_at is None or local_day(case.due_at) > today):
            return None
        due_on = local_day(case.due_at)
        return {**payload, "due_on": due_on.isoformat(),
                "overdue_days": max((today - due_on).days, 0)}
    if kind == "reminder.appointment" and payload.get("appointment_id"):
        appointment = session.get(Appointment, payload["appointment_id"])
        case = session.get(Case, appointment.case_id) if appointment is not None else None
        if (appointment is None or case is None or appointment.cancelled_at is not None
                or appointment.at <= now or case.stage == "closed"
                or case.erased_at is not None):
            return None
        day = local_day(appointment.at)
        when = ("today" if day == today else "tomorrow" if day == today + dt.timedelta(days=1)
                else payload.get("day"))
        return {**payload, "day": when, "at": appointment.at.astimezone(dt.UTC).isoformat()}
    return payload


def morning(session: Session, now: dt.datetime) -> dict:
    """The 08:00 job: escalate first (so the digests show it), then remind and digest."""
    escalated = escalate(session, now)
    return {
        "escalated": escalated,
        "visit_reminders": visit_reminders(session, now),
        "appointment_reminders": appointment_reminders(session, now),
        "digests": officer_digests(session, now),
    }
