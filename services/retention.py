"""Retention (PDPA): what Samoe keeps, and for how long (issue 11, point 4).

Run daily by the scheduler (03:00 Asia/Bangkok) and by `flask --app wsgi purge`:

- raw webhook payloads (they hold message text) are emptied 30 days after handling (the row
  stays, with its event id, so a late redelivery is still recognised);
- outbox rows that were answered (sent, failed, skipped, uncertain) are deleted after 90 days
  (an announcement keeps its counts on its own row);
- photos are deleted one year after their case closed;
- the personal fields of cases closed for 5 years are removed or coarsened (pseudonymised):
  the child's name becomes the reference, the birth date its year, the ID number and its hash,
  the guardian, the village, the location and every free-text note are removed; the stage,
  group, place (subdistrict), dates and timeline kinds stay for the province's figures;
- conversation drafts (a report half filled in, with the child's and the guardian's details)
  untouched for 7 days (`RETENTION_DRAFT_DAYS`) are deleted: after 30 minutes the user is
  asked to continue or start over, and a week later nobody will; a confirmed report is a case,
  never a draft.

Each run returns what it did and writes it to the audit log. Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import (
    Appointment,
    Case,
    CasePhoto,
    CaseService,
    Consent,
    ConversationState,
    InboxEvent,
    OutboxMessage,
    Referral,
    TimelineEntry,
    Visit,
    utcnow,
)
from services import audit
from services.access import Actor

EMPTY_PAYLOAD = "{}"
ANSWERED = (OutboxMessage.SENT, OutboxMessage.FAILED, OutboxMessage.SKIPPED,
            OutboxMessage.UNCERTAIN)
SYSTEM = Actor(kind="system", name="retention", via="scheduler")
BATCH = 500


@dataclass(frozen=True)
class Periods:
    webhook_days: int = 30
    outbox_days: int = 90
    photo_days: int = 365
    case_years: int = 5
    draft_days: int = 7

    @classmethod
    def from_config(cls, config) -> Periods:
        return cls(int(config.get("RETENTION_WEBHOOK_DAYS", 30)),
                   int(config.get("RETENTION_OUTBOX_DAYS", 90)),
                   int(config.get("RETENTION_PHOTO_DAYS", 365)),
                   int(config.get("RETENTION_CASE_YEARS", 5)),
                   int(config.get("RETENTION_DRAFT_DAYS", 7)))


def purge(session: Session, now: dt.datetime | None = None,
          periods: Periods | None = None) -> dict:
    """Apply every retention rule once; returns the counts of what was removed."""
    now = now or utcnow()
    periods = periods or Periods()
    report = {
        "webhook_payloads": _webhook_payloads(session, now - dt.timedelta(
            days=periods.webhook_days)),
        "outbox_rows": _outbox(session, now - dt.timedelta(days=periods.outbox_days)),
        "photos": _photos(session, now - dt.timedelta(days=periods.photo_days)),
        "cases_pseudonymised": _pseudonymise(session, now, _years_before(
            now, periods.case_years)),
        "drafts": _drafts(session, now - dt.timedelta(days=periods.draft_days)),
    }
    audit.record(session, SYSTEM, "retention.purge", **report)
    return report


def _years_before(now: dt.datetime, years: int) -> dt.datetime:
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February
        return now.replace(year=now.year - years, day=28)


def _webhook_payloads(session: Session, cutoff: dt.datetime) -> int:
    handled = sa.func.coalesce(InboxEvent.handled_at, InboxEvent.received_at)
    return session.execute(
        sa.update(InboxEvent)
        .where(InboxEvent.status != InboxEvent.PENDING, handled < cutoff,
               InboxEvent.payload != EMPTY_PAYLOAD)
        .values(payload=EMPTY_PAYLOAD)
        .execution_options(synchronize_session=False)).rowcount


def _outbox(session: Session, cutoff: dt.datetime) -> int:
    return session.execute(
        sa.delete(OutboxMessage)
        .where(OutboxMessage.status.in_(ANSWERED), OutboxMessage.created_at < cutoff)
        .execution_options(synchronize_session=False)).rowcount


def _drafts(session: Session, cutoff: dt.datetime) -> int:
    """Delete conversation states (drafts) last touched before `cutoff`."""
    return session.execute(
        sa.delete(ConversationState).where(ConversationState.updated_at < cutoff)
        .execution_options(synchronize_session=False)).rowcount


def _photos(session: Session, cutoff: dt.datetime) -> int:
    old = sa.select(CasePhoto.id).join(Case, Case.id == CasePhoto.case_id).where(
        Case.stage == "closed", Case.closed_at < cutoff)
    ids = list(session.scalars(old))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        session.execute(sa.update(Visit).where(Visit.photo_id.in_(chunk)).values(photo_id=None)
                        .execution_options(synchronize_session=False))
        session.execute(sa.delete(CasePhoto).where(CasePhoto.id.in_(chunk))
                        .execution_options(synchronize_session=False))
    return len(ids)


def _pseudonymise(session: Session, now: dt.datetime, cutoff: dt.datetime) -> int:
    done = 0
    while True:
        cases = list(session.scalars(
            sa.select(Case).where(Case.stage == "closed", Case.closed_at < cutoff,
                                  Case.pseudonymised_at.is_(None))
            .order_by(Case.id).limit(BATCH)))
        if not cases:
            return done
        for case in cases:
            pseudonymise_case(session, case, now)
        done += len(cases)
        session.flush()


def pseudonymise_case(session: Session, case: Case, now: dt.datetime) -> None:
    """Remove a case's personal fields; keep what the province's figures need."""
    case.child_name = case.reference
    case.child_name_norm = ""
    if case.birth_date is not None:
        case.birth_date = case.birth_date.replace(month=1, day=1)
        case.birth_precision = "year"
    case.id_kind, case.id_number, case.id_hash = "none", None, None
    case.guardian_name = case.guardian_phone = case.guardian_relation = None
    case.village, case.village_no, case.note = None, None, None
    case.latitude = case.longitude = case.location_address = None
    case.pseudonymised_at = now
    ids = [case.id]
    session.execute(sa.update(Consent).where(Consent.case_id.in_(ids))
                    .values(guardian_name=None).execution_options(synchronize_session=False))
    session.execute(sa.update(Visit).where(Visit.case_id.in_(ids))
                    .values(note=None, latitude=None, longitude=None)
                    .execution_options(synchronize_session=False))
    session.execute(sa.update(CaseService).where(CaseService.case_id.in_(ids))
                    .values(note=None).execution_options(synchronize_session=False))
    session.execute(sa.update(Referral).where(Referral.case_id.in_(ids))
                    .values(reason="", decision_reason=None)
                    .execution_options(synchronize_session=False))
    session.execute(sa.update(Appointment).where(Appointment.case_id.in_(ids))
                    .values(place=None, purpose=None)
                    .execution_options(synchronize_session=False))
    for entry in session.scalars(sa.select(TimelineEntry).where(
            TimelineEntry.case_id == case.id)):
        if any(key in (entry.detail or {}) for key in ("text", "reason", "place")):
            entry.detail = {k: v for k, v in entry.detail.items()
                            if k not in ("text", "reason", "place")}
    for photo in list(case.photos):
        session.execute(sa.update(Visit).where(Visit.photo_id == photo.id).values(
            photo_id=None).execution_options(synchronize_session=False))
        session.delete(photo)
