"""Who may see and change which case: the one place where access is decided (DESIGN.md §4).

An `Actor` is whoever acts: an officer (console, API or LINE), a volunteer, a parent, or the
system. For officers, `scope_clause` is the SQL condition every case query adds:

- the case lies in the officer's area (a province, district or subdistrict code), and
- role `officer`: their agency owns the case or a pending referral asks their agency to take it;
  roles `supervisor` and `admin`: every agency's cases in that area.

A case outside the scope is reported as not found, so its existence does not leak.

Who sees a case's personal data in full (`sees_personal_data`), the one rule for the console's
case page and its exports: the officers of the agency that owns the case and the supervisors
of its area, while the guardian's consent to share it stands. An agency that only has a
referral waiting sees the case masked until it accepts: enough to decide (group, age,
situation, subdistrict, the reason for the referral), not who the child is. Administrators
manage accounts, agencies and codes, not children: masked. After the guardian withdrew
consent nobody sees it in full.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from models import Case, Officer, Referral

OFFICER_ROLES = ("officer", "supervisor", "admin")


class NotFound(LookupError):
    """No such case, referral or record within the actor's scope."""


@dataclass(frozen=True)
class Actor:
    """Who acts. `name` is what the timeline and the audit log record (a username or a LINE
    user id); `via` is the channel (api, console, line, cli)."""

    kind: str  # officer | volunteer | parent | system
    name: str
    role: str | None = None
    agency_code: str | None = None
    area_code: str | None = None
    officer_id: int | None = None
    line_user_id: int | None = None
    via: str = "api"
    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def for_officer(cls, officer: Officer, via: str = "api", ip: str | None = None,
                    user_agent: str | None = None) -> Actor:
        return cls(kind="officer", name=officer.username, role=officer.role,
                   agency_code=officer.agency_code, area_code=officer.area_code,
                   officer_id=officer.id, line_user_id=officer.line_user_id, via=via, ip=ip,
                   user_agent=(user_agent or "")[:300] or None)

    @property
    def is_officer(self) -> bool:
        return self.kind == "officer"

    @property
    def sees_whole_area(self) -> bool:
        return self.kind == "officer" and self.role in ("supervisor", "admin")


def area_clause(area_code: str):
    """Cases located in an area: a province (2 digits), district (4) or subdistrict (6)."""
    if len(area_code) == 6:
        return Case.subdistrict_code == area_code
    if len(area_code) == 4:
        return Case.district_code == area_code
    return Case.district_code.like(f"{area_code}%")


def in_area(case: Case, area_code: str) -> bool:
    """The same rule as `area_clause`, for a case already loaded."""
    if len(area_code) == 6:
        return case.subdistrict_code == area_code
    if len(area_code) == 4:
        return case.district_code == area_code
    return case.district_code.startswith(area_code)


def referred_to_clause(agency_code: str):
    """Cases with a pending referral to an agency. (An alias, so the condition also works in
    a query that selects referrals: the subquery keeps its own FROM.)

    `id IN (the agency's pending referrals)`, not a correlated EXISTS: PostgreSQL runs both
    as one hashed lookup, but costs the EXISTS inside an OR (an officer's scope) as if it ran
    for every case, and then plans a million cases badly (bench/console.py)."""
    pending = aliased(Referral)
    return Case.id.in_(sa.select(pending.case_id).where(
        pending.status == "pending", pending.to_agency_code == agency_code))


def scope_clause(actor: Actor):
    """The condition on `Case` that limits a query to what `actor` may see."""
    if actor.kind != "officer" or not actor.area_code:
        return sa.false()
    where = area_clause(actor.area_code)
    if actor.sees_whole_area:
        return where
    return sa.and_(where, sa.or_(Case.owner_agency_code == actor.agency_code,
                                 referred_to_clause(actor.agency_code)))


def scoped_cases(actor: Actor) -> sa.Select:
    """`SELECT cases` limited to the actor's scope; add filters and ordering to it."""
    return sa.select(Case).where(scope_clause(actor))


def get_case(session: Session, actor: Actor, reference: str) -> Case:
    """The case with this canonical reference (KK-2569-00042) if the actor may see it."""
    case = session.scalar(scoped_cases(actor).where(Case.reference == reference))
    if case is None:
        raise NotFound(reference)
    return case


def get_referral(session: Session, actor: Actor, referral_id: int) -> Referral:
    """A referral whose case the actor may see."""
    referral = session.scalar(
        sa.select(Referral).join(Case, Case.id == Referral.case_id)
        .where(Referral.id == referral_id, scope_clause(actor)))
    if referral is None:
        raise NotFound(str(referral_id))
    return referral


def in_charge(actor: Actor, case: Case) -> bool:
    """Whether the actor is in charge of a case it can see: its owner agency's officers, and
    the supervisors and administrators of the area (an agency with only a pending referral
    may accept or decline it, nothing more)."""
    if actor.kind != "officer":
        return False
    return actor.sees_whole_area or case.owner_agency_code == actor.agency_code


def may_change(actor: Actor, case: Case) -> bool:
    """Whether the actor may change a case it can see: those in charge of it (`in_charge`),
    unless its personal data was erased (services.subject_rights): an erased case is never
    changed again."""
    return case.erased_at is None and in_charge(actor, case)


#: The personal fields, masked for whoever does not see personal data in full.
PERSONAL_FIELDS = ("child_name", "birth_date", "id_number", "guardian_name", "guardian_phone",
                   "village", "village_no", "photos", "location")


def sees_personal_data(actor: Actor, case: Case, consent_withdrawn: bool) -> bool:
    """Whether `actor`, who can see `case`, may see its personal data (PERSONAL_FIELDS) in
    full: on the case page once they reveal it, in an export at once. A `supervisor` of the
    area, or an `officer` of the agency that owns the case, unless the guardian withdrew
    consent (`consent_withdrawn`: every consent of the case withdrawn,
    services.consent.is_withdrawn). An agency with only a pending referral, an
    administrator, and everyone else get the masked view."""
    if consent_withdrawn or actor.kind != "officer":
        return False
    if actor.role == "supervisor":
        return True
    return actor.role == "officer" and case.owner_agency_code == actor.agency_code

