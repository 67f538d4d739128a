"""Consent as data (issue 11, point 1): withdrawing it.

A guardian withdraws on LINE (a linked parent, or the parent who reported their own child), or
an officer of the owning agency records a withdrawal the guardian made by phone or in person.
Then:

- every active consent of the case gets `withdrawn_at` (the records stay: who agreed to what,
  under which statement, when, and when it was withdrawn);
- sharing stops: the case can no longer be referred to another agency (services.workflow
  refuses with `consent_withdrawn`), its photos are no longer shown and new ones are not kept;
- the case is flagged (`consent_withdrawn` in the API, an entry on the timeline);
- the officers in charge are told.

Nothing here commits.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import Case, Consent, utcnow
from services import audit
from services.access import Actor


class ConsentError(ValueError):
    def __init__(self, code: str, message: str, status: int = 409):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def active(session: Session, case: Case) -> list[Consent]:
    return list(session.scalars(sa.select(Consent).where(Consent.case_id == case.id,
                                                         Consent.withdrawn_at.is_(None))))


def is_withdrawn(session: Session, case: Case) -> bool:
    """A case whose consents were all withdrawn (it had at least one)."""
    counts = session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(Consent.withdrawn_at.is_(None)))
        .where(Consent.case_id == case.id)).one()
    return counts[0] > 0 and counts[1] == 0


def withdraw(session: Session, actor: Actor, case: Case, reason: str | None = None,
             now: dt.datetime | None = None) -> int:
    """Withdraw every active consent of the case; returns how many were withdrawn."""
    from services.workflow import _entry, _tell_officers, _text

    now = now or utcnow()
    if actor.kind == "officer":
        from services.access import may_change

        if not may_change(actor, case):
            raise ConsentError("not_owner", "only the agency that owns the case records this")
    elif actor.kind not in ("parent",):
        raise ConsentError("not_allowed", "only the guardian or the officer in charge", 403)
    reason = _text(reason, "reason")
    consents = active(session, case)
    if not consents:
        raise ConsentError("consent_withdrawn", "the consent was withdrawn already")
    for consent in consents:
        consent.withdrawn_at = now
    case.updated_at = now
    _entry(case, "consent_withdrawn", actor, now, public=True, by=actor.kind)
    if reason:
        _entry(case, "note", actor, now, public=False, text=reason)
    _tell_officers(session, case, case.owner_agency_code, "case.consent_withdrawn",
                   exclude=actor.name if actor.kind == "officer" else None)
    audit.record(session, actor, "case.consent_withdraw", case, consents=len(consents))
    return len(consents)
