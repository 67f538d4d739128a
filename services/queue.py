"""Work queues: the cases and referrals an officer sees, filtered and paged (for the REST API
and the web console alike).

Every query starts from `access.scoped_cases` / `access.scope_clause`, so nothing outside the
actor's scope is ever listed. Case lists are paged by keyset on the id, newest first, with an
opaque cursor (`encode_cursor` / `decode_cursor`): a page never repeats or skips a case when
cases are added meanwhile. Nothing here commits.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import Case, Referral, utcnow
from services.access import Actor, referred_to_clause, scope_clause, scoped_cases
from services.cases import normalise_name

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_ID = 2**63 - 1


class BadCursor(ValueError):
    """A cursor this module did not make (or made for another listing)."""


@dataclass(frozen=True)
class CaseFilters:
    """What to list. None means "any". `q` matches the child's name (normalised, anywhere in
    it); `reference` (a canonical reference the caller parsed from the same text) matches the
    case with that reference as well."""

    stage: str | None = None
    group: str | None = None
    district: str | None = None
    subdistrict: str | None = None
    agency: str | None = None
    q: str | None = None
    reference: str | None = None
    overdue: bool | None = None
    referred_to_us: bool | None = None
    escalated: str | None = None  # district (or beyond) | province
    stale: bool | None = None

    def as_detail(self) -> dict:
        """The filters that were set (for the audit log)."""
        return {key: value for key, value in asdict(self).items() if value is not None}


def encode_cursor(last_id: int) -> str:
    raw = json.dumps({"v": 1, "before": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor continues below; BadCursor if it is not one of ours."""
    try:
        text = cursor.strip()
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
        before = data["before"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise BadCursor(cursor) from exc
    if (not isinstance(data, dict) or data.get("v") != 1 or not isinstance(before, int)
            or isinstance(before, bool) or not 0 < before <= MAX_ID):
        raise BadCursor(cursor)
    return before


def overdue_clause(now: dt.datetime):
    """Cases past their deadline and not closed (the rule of workflow.is_overdue)."""
    return sa.and_(Case.due_at.is_not(None), Case.due_at < now, Case.stage != "closed")


#: A case nobody touched this long is flagged for the supervisor (data freshness).
STALE_AFTER = dt.timedelta(days=30)
#: Escalation levels by name (cases.escalation; services.reminders.escalate sets them).
ESCALATION_LEVELS = {"district": 1, "province": 2}


def stale_clause(now: dt.datetime):
    """Open cases untouched (no change by anyone) for 30 days; not an erased one (it can no
    longer be changed: there is nothing to freshen)."""
    return sa.and_(Case.stage != "closed", Case.erased_at.is_(None),
                   Case.updated_at < now - STALE_AFTER)


def escalated_clause(level: int):
    """Open cases escalated to `level` (1 district, 2 province) or beyond."""
    return sa.and_(Case.stage != "closed", Case.escalation >= level)


def _filtered(statement: sa.Select, actor: Actor, filters: CaseFilters,
              now: dt.datetime) -> sa.Select:
    if filters.stage is not None:
        statement = statement.where(Case.stage == filters.stage)
    if filters.group is not None:
        statement = statement.where(Case.target_group == filters.group)
    if filters.district is not None:
        statement = statement.where(Case.district_code == filters.district)
    if filters.subdistrict is not None:
        statement = statement.where(Case.subdistrict_code == filters.subdistrict)
    if filters.agency is not None:
        statement = statement.where(Case.owner_agency_code == filters.agency)
    if filters.q is not None or filters.reference is not None:
        matches = []
        name = normalise_name(filters.q) if filters.q is not None else ""
        if name:
            matches.append(Case.child_name_norm.contains(name, autoescape=True))
        if filters.reference:
            matches.append(Case.reference == filters.reference)
        statement = statement.where(sa.or_(*matches) if matches else sa.false())
    if filters.overdue is not None:
        clause = overdue_clause(now)
        statement = statement.where(clause if filters.overdue else sa.not_(clause))
    if filters.escalated is not None:
        statement = statement.where(escalated_clause(ESCALATION_LEVELS[filters.escalated]))
    if filters.stale is not None:
        clause = stale_clause(now)
        statement = statement.where(clause if filters.stale else sa.not_(clause))
    if filters.referred_to_us is not None:
        clause = (referred_to_clause(actor.agency_code) if actor.agency_code else sa.false())
        statement = statement.where(clause if filters.referred_to_us else sa.not_(clause))
    return statement


def list_cases(session: Session, actor: Actor, filters: CaseFilters | None = None,
               cursor: str | None = None, limit: int = DEFAULT_LIMIT,
               now: dt.datetime | None = None) -> tuple[list[Case], str | None]:
    """One page of the cases the actor may see, newest first, and the cursor of the next page
    (None on the last page). Raises BadCursor for a cursor not made here."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    statement = _filtered(scoped_cases(actor), actor, filters or CaseFilters(), now or utcnow())
    if cursor:
        statement = statement.where(Case.id < decode_cursor(cursor))
    rows = list(session.scalars(statement.order_by(Case.id.desc()).limit(limit + 1)))
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
    return page, next_cursor


def pending_referrals(session: Session, actor: Actor, direction: str | None = None
                      ) -> list[Referral]:
    """Pending referrals of cases the actor may see: sent to or by the actor's agency
    (`direction` "incoming" or "outgoing" for one side); supervisors and administrators see
    every pending referral of their area. Oldest first (the longest waiting on top)."""
    statement = (sa.select(Referral).join(Case, Case.id == Referral.case_id)
                 .where(Referral.status == "pending", scope_clause(actor)))
    agency = actor.agency_code or ""
    if direction == "incoming":
        statement = statement.where(Referral.to_agency_code == agency)
    elif direction == "outgoing":
        statement = statement.where(Referral.from_agency_code == agency)
    elif not actor.sees_whole_area:
        statement = statement.where(sa.or_(Referral.to_agency_code == agency,
                                           Referral.from_agency_code == agency))
    return list(session.scalars(statement.order_by(Referral.created_at, Referral.id)))


def pending_referrals_of(session: Session, case_ids: list[int]) -> dict[int, Referral]:
    """The pending referral of each of these cases that has one (one query, for a page)."""
    if not case_ids:
        return {}
    rows = session.scalars(sa.select(Referral).where(Referral.case_id.in_(case_ids),
                                                     Referral.status == "pending"))
    return {row.case_id: row for row in rows}
