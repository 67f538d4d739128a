"""Consent as data (issue 11, point 1): what the guardian agreed to, and withdrawing it.

Each consent is a row (services.cases records it with the report): the guardian, the purposes
(`share_with_agencies`, `photo`, `follow_up_contact`), the statement version heard, the
channel, who recorded it and when. A case's consent is the union of the purposes of its
consents not withdrawn. What each purpose controls:

- `share_with_agencies`: the report reaches the agencies at all (without it only an anonymous
  count is kept, services.cases), and the case may be referred to another agency
  (services.workflow refuses a referral, and the answer to one, without it);
- `photo`: a photo of the child is kept (with the report, or from a home visit,
  services.visits) and shown in the console;
- `follow_up_contact`: officers may phone the guardian to follow up; without it the console
  and the API say "do not contact the guardian for follow-up". LINE news is not affected:
  it goes only to a parent who linked their own LINE account to the case (with a link code,
  or by asking for help themselves), which is their own request for it, and "unlink" stops it.

A guardian withdraws on LINE (a linked parent, or the parent who reported their own child), or
an officer of the owning agency records a withdrawal the guardian made by phone or in person.
Then:

- every active consent of the case gets `withdrawn_at`, `withdrawn_by` and
  `withdrawal_channel` (the records stay: who agreed to what, under which statement, when, and
  who withdrew it when, how);
- sharing stops: a referral waiting for an answer is cancelled (its receiving agency is told)
  and the case can no longer be referred or a referral of it answered (`consent_withdrawn`),
  its photos are no longer shown and new ones are not kept; a later report of the same child
  does not restore any of it (services.cases);
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

#: The channel a withdrawal came through, by the actor's channel (Actor.via).
WITHDRAWAL_CHANNELS = {"line": "line_parent", "console": "console", "api": "api"}


class ConsentError(ValueError):
    def __init__(self, code: str, message: str, status: int = 409):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def active(session: Session, case: Case) -> list[Consent]:
    return list(session.scalars(sa.select(Consent).where(Consent.case_id == case.id,
                                                         Consent.withdrawn_at.is_(None))))


def purposes_of(session: Session, case: Case) -> set[str]:
    """The purposes the case's consents not withdrawn cover together."""
    return {purpose for consent in active(session, case) for purpose in consent.purposes or []}


def is_withdrawn(session: Session, case: Case) -> bool:
    """A case whose consents were all withdrawn (it had at least one)."""
    counts = session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(Consent.withdrawn_at.is_(None)))
        .where(Consent.case_id == case.id)).one()
    return counts[0] > 0 and counts[1] == 0


def sharing_refused(session: Session, case: Case) -> str | None:
    """Why the case may not go to another agency, or None when it may: `consent_withdrawn`,
    or `no_sharing_consent` (no consent on record covers sharing)."""
    if "share_with_agencies" in purposes_of(session, case):
        return None
    return "consent_withdrawn" if is_withdrawn(session, case) else "no_sharing_consent"


def may_contact(session: Session, case: Case) -> bool:
    """Whether officers may phone the guardian to follow up (`follow_up_contact`)."""
    return "follow_up_contact" in purposes_of(session, case)


def withdraw(session: Session, actor: Actor, case: Case, reason: str | None = None,
             now: dt.datetime | None = None) -> int:
    """Withdraw every active consent of the case; returns how many were withdrawn."""
    from services.workflow import _entry, _tell_officers, _text, cancel_for_withdrawal

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
    channel = WITHDRAWAL_CHANNELS.get(actor.via, actor.via)
    for consent in consents:
        consent.withdrawn_at = now
        consent.withdrawn_by = actor.name
        consent.withdrawal_channel = channel
    case.updated_at = now
    _entry(case, "consent_withdrawn", actor, now, public=True, by=actor.kind)
    if reason:
        _entry(case, "note", actor, now, public=False, text=reason)
    cancelled = cancel_for_withdrawal(session, actor, case, now)
    _tell_officers(session, case, case.owner_agency_code, "case.consent_withdrawn",
                   exclude=actor.name if actor.kind == "officer" else None)
    audit.record(session, actor, "case.consent_withdraw", case, consents=len(consents),
                 referrals_cancelled=[r.id for r in cancelled])
    return len(consents)
