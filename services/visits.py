"""Home visits by the volunteer who reported a child: which cases they can visit (the most
overdue first), whether a photo taken on the visit may be kept, and recording the visit through
the one workflow service (services.workflow.record_visit), so a visit made on LINE reads the same
on the timeline, in the API and in the officers' notifications as one recorded anywhere else.

Functions work in the caller's transaction and never commit.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import Case, CasePhoto, Consent, Visit, utcnow
from services import workflow
from services.access import Actor

#: Stages whose deadline is the next home visit (workflow.due_after); in the others `due_at`
#: is an officer's deadline (check the report, answer or act on a referral), not a visit date.
VISIT_STAGES = workflow.VISIT_STAGES
#: At most this many cases are offered to choose from (a volunteer has far fewer open ones).
VISITABLE_LIMIT = 200
#: Characters never kept in a note typed on a phone: C0 controls but tab and newlines, DEL,
#: and lone surrogates (the workflow refuses them; a volunteer should not be refused for them).
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def visitable_cases(session: Session, reporter_id: int,
                    limit: int = VISITABLE_LIMIT) -> list[Case]:
    """The open cases this LINE user reported as a volunteer (not closed, not erased, not
    self-reported): first those whose next deadline is a home visit, by that date (so the
    visits overdue come first, the oldest first); then the others — their deadline is an
    officer's, not the volunteer's — newest report first."""
    visit_due = sa.case((Case.stage.in_(VISIT_STAGES), Case.due_at), else_=None)
    no_visit_due = sa.case((visit_due.is_(None), 1), else_=0)
    return list(session.scalars(
        sa.select(Case)
        .where(Case.reporter_id == reporter_id, Case.stage != "closed",
               Case.erased_at.is_(None), Case.self_reported.is_(False))
        .order_by(no_visit_due, visit_due, Case.created_at.desc(), Case.id.desc())
        .limit(limit)))


def is_overdue(case: Case, now: dt.datetime | None = None) -> bool:
    """A home visit is overdue: the case is in a visit stage and past that deadline (an
    officer's deadline passed is not the volunteer's to show)."""
    return case.stage in VISIT_STAGES and workflow.is_overdue(case, now)


def next_visit_due(case: Case, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the next home visit is due, if the case's deadline is a visit and still ahead."""
    if case.stage in VISIT_STAGES and case.due_at is not None and case.due_at > (now or utcnow()):
        return case.due_at
    return None


def photo_consented(session: Session, case: Case) -> bool:
    """Whether the guardian's consent on record (not withdrawn) covers photos of the child."""
    consents = session.scalars(sa.select(Consent).where(Consent.case_id == case.id,
                                                        Consent.withdrawn_at.is_(None)))
    return any("photo" in (consent.purposes or []) for consent in consents)


def clean_note(text: str | None) -> str:
    """A typed note as it can be stored: unprintable characters dropped, ends trimmed."""
    return _UNPRINTABLE.sub("", text or "").strip()


@dataclass
class VisitResult:
    """What recording a visit did: the visit, and whether the photo sent with it was kept."""

    visit: Visit
    photo_kept: bool


def record(session: Session, actor: Actor, case: Case, outcome: str, *,
           visited_on: dt.date | None = None, note: str | None = None,
           latitude: float | None = None, longitude: float | None = None,
           photo: tuple[str, bytes] | None = None,
           now: dt.datetime | None = None) -> VisitResult:
    """Record a home visit with `workflow.record_visit` (which checks who may, writes the
    timeline, resets the deadline, audits and tells the officers in charge).

    `photo` is (content type, bytes) copied from LINE: it is kept as the case's photo, linked to
    the visit, only when the guardian consented to photos; otherwise it is dropped. A refused
    visit (`workflow.WorkflowError`) keeps nothing, the photo included."""
    now = now or utcnow()
    kept: CasePhoto | None = None
    if photo is not None and photo_consented(session, case):
        content_type, data = photo
        kept = CasePhoto(case_id=case.id, content_type=(content_type or
                                                        "application/octet-stream")[:100],
                         data=data, size=len(data), created_at=now)
        session.add(kept)
        session.flush()
    try:
        visit = workflow.record_visit(
            session, actor, case, outcome, visited_on=visited_on,
            note=clean_note(note) or None, latitude=latitude, longitude=longitude,
            photo_id=kept.id if kept is not None else None, now=now)
    except workflow.WorkflowError:
        if kept is not None:  # the workflow refuses before it writes anything: undo the photo
            session.delete(kept)
            session.flush()
        raise
    return VisitResult(visit, kept is not None)
