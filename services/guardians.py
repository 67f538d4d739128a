"""Parents and their children's cases: linking with a one-time code, the parent's view of a
case, unlinking, and what Samoe keeps about a parent (DESIGN.md §3).

A parent links only with a 6-digit link code (single use, 7 days) issued by an officer or the
reporting volunteer; never by reference and birth date. Wrong codes count against the LINE
user like wrong invitation codes: `MAX_FAILURES` wrong in a row and they wait `LOCK_FOR`.
Every function works in the caller's transaction and never commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import (
    Agency,
    Appointment,
    Case,
    CaseGuardian,
    LineUser,
    LinkCode,
    TimelineEntry,
    utcnow,
)
from services.invitations import LOCK_FOR, MAX_FAILURES, code_hash

#: A child's case may be followed by this many guardians' LINE accounts.
MAX_GUARDIANS = 2


@dataclass(frozen=True)
class LinkResult:
    """The outcome of typing a link code: the case linked, or why not (`locked`, `unknown`,
    `used`, `expired`, `full`), with when a locked user may try again; `already` when this
    user was linked to the case before."""

    case: Case | None = None
    reason: str | None = None
    retry_at: dt.datetime | None = None
    already: bool = False


def _guardian(session: Session, case_id: int, user_id: int) -> CaseGuardian | None:
    return session.scalar(sa.select(CaseGuardian).where(CaseGuardian.case_id == case_id,
                                                        CaseGuardian.line_user_id == user_id))


def _active_guardians(session: Session, case_id: int) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(CaseGuardian).where(
        CaseGuardian.case_id == case_id, CaseGuardian.unlinked_at.is_(None)))


def _fail(user: LineUser, now: dt.datetime) -> LinkResult:
    user.code_failures += 1
    if user.code_failures >= MAX_FAILURES:
        user.code_failures = 0
        user.code_locked_until = now + LOCK_FOR
        return LinkResult(reason="locked", retry_at=user.code_locked_until)
    return LinkResult(reason="unknown")


def redeem_link_code(session: Session, secret: str, user: LineUser, code: str,
                     now: dt.datetime | None = None) -> LinkResult:
    """Link `user` to the case of a link code (atomically: a code is used once)."""
    now = now or utcnow()
    if user.code_locked_until is not None and user.code_locked_until > now:
        return LinkResult(reason="locked", retry_at=user.code_locked_until)
    hashed = code_hash(secret, code)
    row = session.scalar(sa.select(LinkCode).where(LinkCode.code_hash == hashed))
    if row is None:
        return _fail(user, now)
    if row.used_at is not None:
        return LinkResult(reason="used")
    if row.expires_at <= now:
        return LinkResult(reason="expired")
    existing = _guardian(session, row.case_id, user.id)
    if existing is None or existing.unlinked_at is not None:
        if _active_guardians(session, row.case_id) >= MAX_GUARDIANS:
            return LinkResult(reason="full")
    taken = session.execute(
        sa.update(LinkCode)
        .where(LinkCode.id == row.id, LinkCode.used_at.is_(None), LinkCode.expires_at > now)
        .values(used_at=now, used_by=user.line_user_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        return LinkResult(reason="used")  # used a moment ago, in another transaction
    user.code_failures = 0
    case = session.get(Case, row.case_id)
    already = existing is not None and existing.unlinked_at is None
    if existing is None:
        session.add(CaseGuardian(case_id=case.id, line_user_id=user.id, linked_at=now,
                                 link_code_id=row.id))
    elif existing.unlinked_at is not None:
        existing.unlinked_at, existing.linked_at, existing.link_code_id = None, now, row.id
    if user.role is None:
        user.role = "parent"
    if not already:
        session.add(TimelineEntry(case_id=case.id, kind="guardian_linked",
                                  actor=user.line_user_id, public=False, at=now,
                                  detail={"link_code_id": row.id}))
    session.flush()
    return LinkResult(case=case, already=already)


def link_reporter(session: Session, user: LineUser, case: Case,
                  now: dt.datetime | None = None) -> None:
    """Link a parent who reported their own child to that case (no code needed)."""
    now = now or utcnow()
    existing = _guardian(session, case.id, user.id)
    if existing is None:
        session.add(CaseGuardian(case_id=case.id, line_user_id=user.id, linked_at=now))
    elif existing.unlinked_at is not None:
        existing.unlinked_at, existing.linked_at = None, now
    session.flush()


def linked_cases(session: Session, user: LineUser) -> list[Case]:
    """The cases this LINE user follows as a guardian, oldest link first."""
    return list(session.scalars(
        sa.select(Case).join(CaseGuardian, CaseGuardian.case_id == Case.id)
        .where(CaseGuardian.line_user_id == user.id, CaseGuardian.unlinked_at.is_(None))
        .order_by(CaseGuardian.linked_at, CaseGuardian.id)))


def linked_case(session: Session, user: LineUser, case_id: int) -> Case | None:
    """The case if this user follows it as a guardian, else None."""
    return session.scalar(
        sa.select(Case).join(CaseGuardian, CaseGuardian.case_id == Case.id)
        .where(Case.id == case_id, CaseGuardian.line_user_id == user.id,
               CaseGuardian.unlinked_at.is_(None)))


def linked_case_by_reference(session: Session, user: LineUser, reference: str) -> Case | None:
    return session.scalar(
        sa.select(Case).join(CaseGuardian, CaseGuardian.case_id == Case.id)
        .where(Case.reference == reference, CaseGuardian.line_user_id == user.id,
               CaseGuardian.unlinked_at.is_(None)))


def unlink(session: Session, user: LineUser, case_id: int,
           now: dt.datetime | None = None) -> Case | None:
    """Stop following a case; the case itself is not changed. Returns it, or None."""
    now = now or utcnow()
    row = session.scalar(sa.select(CaseGuardian).where(
        CaseGuardian.case_id == case_id, CaseGuardian.line_user_id == user.id,
        CaseGuardian.unlinked_at.is_(None)))
    if row is None:
        return None
    row.unlinked_at = now
    session.add(TimelineEntry(case_id=case_id, kind="guardian_unlinked",
                              actor=user.line_user_id, public=False, at=now, detail={}))
    session.flush()
    return session.get(Case, case_id)


@dataclass(frozen=True)
class ParentView:
    """What a parent may see of a case: never the reporter, the identity number, notes or
    any other child."""

    case_id: int
    reference: str
    child_name: str
    stage: str
    agency_code: str
    agency_name_th: str | None
    agency_name_en: str | None
    agency_phone: str | None
    last_update: dt.datetime
    last_event: str
    next_appointment: dt.datetime | None
    appointment_place: str | None


def parent_view(session: Session, case: Case, now: dt.datetime | None = None) -> ParentView:
    now = now or utcnow()
    last = session.scalar(
        sa.select(TimelineEntry).where(TimelineEntry.case_id == case.id, TimelineEntry.public)
        .order_by(TimelineEntry.at.desc(), TimelineEntry.id.desc()).limit(1))
    appointment = session.scalar(
        sa.select(Appointment).where(Appointment.case_id == case.id,
                                     Appointment.cancelled_at.is_(None), Appointment.at >= now)
        .order_by(Appointment.at).limit(1))
    agency = session.get(Agency, case.owner_agency_code)
    return ParentView(
        case_id=case.id, reference=case.reference, child_name=case.child_name,
        stage=case.stage, agency_code=case.owner_agency_code,
        agency_name_th=agency.short_name_th if agency else None,
        agency_name_en=agency.name_en if agency else None,
        agency_phone=agency.phone if agency else None,
        last_update=last.at if last else case.created_at,
        last_event=last.kind if last else "created",
        next_appointment=appointment.at if appointment else None,
        appointment_place=appointment.place if appointment else None,
    )
