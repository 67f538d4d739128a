"""Deadlines per stage, configurable per agency (DESIGN.md objectives 3 and 5).

The province's defaults: a report is checked within 7 days; a referral is answered within 7
days; the agency that accepted a referral acts within 14 days; a child being helped or followed
up is visited every 30 days. An agency may set its own number of days for each (columns on
`agencies`; empty = the default). Which agency's setting applies:

- `verify`: the agency that owns the case;
- `referral`: the agency the pending referral is sent to;
- `first_action`: the agency that accepted the referral (the new owner);
- `visit`: the agency that owns the case.

A case's next deadline is kept in `cases.due_at` by services.workflow on every change; when an
agency changes its deadlines, `set_deadlines` recomputes `due_at` of the open cases it concerns.
Both derive it from the case's history (`workflow.due_after`): the first action is met by the
accepting agency's first service, appointment or officer's visit after the acceptance (or a
stage change), the visit deadline counts from the latest visit's date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import Agency, Case, Referral
from services import audit
from services.access import Actor

#: The province's defaults, in days.
DEFAULT_DAYS = {"verify": 7, "referral": 7, "first_action": 14, "visit": 30}
#: The column of `agencies` holding each deadline.
COLUMNS = {"verify": "verify_days", "referral": "referral_days",
           "first_action": "first_action_days", "visit": "visit_days"}
MIN_DAYS, MAX_DAYS = 1, 365


class DeadlineError(ValueError):
    """A deadline setting that can never be right."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Deadlines:
    """The deadlines that apply to one agency, in days, and which of them are its own."""

    agency: str
    verify: int
    referral: int
    first_action: int
    visit: int
    own: tuple[str, ...] = ()

    def delta(self, name: str) -> dt.timedelta:
        return dt.timedelta(days=getattr(self, name))

    def as_dict(self) -> dict:
        return {"agency": self.agency, **{name: getattr(self, name) for name in DEFAULT_DAYS},
                "own": list(self.own)}


def _of(agency: Agency | None, code: str) -> Deadlines:
    days, own = dict(DEFAULT_DAYS), []
    if agency is not None:
        for name, column in COLUMNS.items():
            value = getattr(agency, column)
            if value is not None:
                days[name] = value
                own.append(name)
    return Deadlines(agency=code, own=tuple(own), **days)


def for_agency(session: Session, code: str | None) -> Deadlines:
    """The deadlines of agency `code` (the defaults for an unknown or missing agency)."""
    agency = session.get(Agency, code) if code else None
    return _of(agency, code or "")


def delta(session: Session, code: str | None, name: str) -> dt.timedelta:
    """One deadline of an agency as a duration."""
    return for_agency(session, code).delta(name)


def all_agencies(session: Session) -> list[Deadlines]:
    return [_of(agency, agency.code)
            for agency in session.scalars(sa.select(Agency).order_by(Agency.code))]


def set_deadlines(session: Session, actor: Actor, code: str, changes: dict[str, int | None],
                  now: dt.datetime | None = None) -> tuple[Deadlines, int]:
    """Set (a number of days) or clear (None: back to the default) an agency's deadlines, then
    recompute the next deadline of the open cases they concern. Returns the new deadlines and
    how many cases got a new `due_at`. Administrators of the province only."""
    from services import workflow  # workflow uses this module for every deadline

    if actor.kind != "officer" or actor.role != "admin":
        raise workflow.WorkflowError("forbidden", "only an administrator sets deadlines", 403)
    if actor.area_code and len(actor.area_code) != 2:  # the command line's actor has none
        raise workflow.WorkflowError("forbidden", "an agency's deadlines apply to the whole "
                                     "province: only an administrator of the province sets "
                                     "them", 403)
    agency = session.get(Agency, code)
    if agency is None:
        raise workflow.WorkflowError("not_found", f"unknown agency code {code!r}", 404)
    unknown = set(changes) - set(COLUMNS)
    if unknown:
        raise DeadlineError("unknown_deadline", f"unknown deadline {sorted(unknown)[0]!r}")
    for name, value in changes.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not MIN_DAYS <= value <= MAX_DAYS):
            raise DeadlineError("days_out_of_range",
                                f"{name}: a whole number of days from {MIN_DAYS} to {MAX_DAYS}")
    before = _of(agency, code).as_dict()
    for name, value in changes.items():
        setattr(agency, COLUMNS[name], value)
    session.flush()
    changed = recompute(session, code, now)
    after = _of(agency, code)
    audit.record(session, actor, "agency.deadlines", None, agency=code, before=before,
                 after=after.as_dict(), cases_changed=changed)
    return after, changed


def recompute(session: Session, code: str, now: dt.datetime | None = None,
              batch: int = 500) -> int:
    """Recompute `due_at` of the open cases whose deadline depends on agency `code`: the cases
    it owns, and those with a referral pending to it. Returns how many changed."""
    from services import workflow

    pending_to = sa.select(Referral.case_id).where(Referral.status == "pending",
                                                   Referral.to_agency_code == code)
    statement = (sa.select(Case).where(Case.stage != "closed",
                                       sa.or_(Case.owner_agency_code == code,
                                              Case.id.in_(pending_to)))
                 .order_by(Case.id))
    changed = 0
    last_id = 0
    while True:
        cases = list(session.scalars(statement.where(Case.id > last_id).limit(batch)))
        if not cases:
            return changed
        for case in cases:
            due = workflow.due_after(case, session, now)
            if due != case.due_at:
                workflow.set_due(case, due, now, touch=False)
                changed += 1
        last_id = cases[-1].id
        session.flush()
