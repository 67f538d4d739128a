"""Retention (services.retention) on each database: webhook payloads emptied 30 days after
handling, answered outbox rows deleted after 90 days (an announcement keeps its counts), photos
deleted a year after their case closed, personal fields of cases closed for 5 years removed —
each only after its period, each run reported and audited; the 03:00 job and `flask purge`."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from models import (
    AuditEntry,
    Case,
    CasePhoto,
    Consent,
    ConversationState,
    InboxEvent,
    OutboxMessage,
    TimelineEntry,
    Visit,
    utcnow,
)
from services import retention, workflow
from tests import factories as f
from tests.support import flask_command, flask_env

DAY = dt.timedelta(days=1)
NOW = dt.datetime(2031, 6, 1, 3, 0, tzinfo=dt.UTC)



def inbox(s, n: int, handled_days_ago: float | None, status: str = "done") -> InboxEvent:
    row = InboxEvent(webhook_event_id=f"01RET{n:020d}", user_key="U1", event_type="message",
                     occurred_ms=0, payload=json.dumps({"message": {"text": "น้องสมชาย"}},
                                                      ensure_ascii=False),
                     status=status, received_at=NOW - 40 * DAY,
                     handled_at=None if handled_days_ago is None
                     else NOW - handled_days_ago * DAY)
    s.add(row)
    return row


def test_webhook_payloads_go_30_days_after_handling(s):
    old, recent, pending = inbox(s, 1, 31), inbox(s, 2, 29), inbox(s, 3, None, "pending")
    s.commit()
    report = retention.purge(s, NOW)
    s.commit()
    assert report["webhook_payloads"] == 1
    for row in (old, recent, pending):
        s.refresh(row)
    assert old.payload == "{}" and old.webhook_event_id  # the id stays: redeliveries known
    assert "สมชาย" in recent.payload and "สมชาย" in pending.payload
    assert retention.purge(s, NOW)["webhook_payloads"] == 0


def test_answered_outbox_rows_go_after_90_days_and_announcements_keep_counts(s):
    for status, age in (("sent", 91), ("failed", 91), ("sent", 89), ("pending", 200)):
        s.add(OutboxMessage(kind="messages", payload="[]", recipient="U1", retry_key="k",
                            status=status, created_at=NOW - age * DAY))
    s.commit()
    assert retention.purge(s, NOW)["outbox_rows"] == 2
    s.commit()
    left = sorted(s.scalars(sa.select(OutboxMessage.status)))
    assert left == ["pending", "sent"]


_ids = iter(range(1, 1000))


def citizen_id() -> str:
    """A new valid 13-digit citizen ID (checksum included)."""
    digits = f"110370{next(_ids):06d}"
    check = (11 - sum(int(d) * (13 - i) for i, d in enumerate(digits)) % 11) % 10
    return digits + str(check)


def _closed_case(s, app, closed_at: dt.datetime) -> Case:
    volunteer = f.line_user(s)
    learn = f.actor(f.officer(s, agency="LEARN", area="4007"))
    start = closed_at - 10 * DAY
    case = f.report(s, app.config["SECRET_KEY"], volunteer, now=start, id_kind="citizen_id",
                    id_number=citizen_id())
    case.photos.append(CasePhoto(content_type="image/jpeg", data=b"\xff\xd8jpeg", size=6))
    s.flush()
    workflow.transition(s, learn, case, "in_support", note="แม่ทำงานต่างจังหวัด", now=start)
    workflow.record_service(s, learn, case, "learn_enrolment", now=start + DAY,
                            provided_on=(start + DAY).date())
    workflow.record_visit(s, learn, case, "back_in_school", note="เจอที่บ้านยาย",
                          latitude=16.7, longitude=102.8, photo_id=case.photos[0].id,
                          now=start + 2 * DAY)
    workflow.transition(s, learn, case, "closed", now=closed_at)
    s.commit()
    return case


def test_photos_go_a_year_after_the_case_closed(s, app):
    old = _closed_case(s, app, NOW - 366 * DAY)
    recent = _closed_case(s, app, NOW - 300 * DAY)
    report = retention.purge(s, NOW)
    s.commit()
    assert report["photos"] == 1 and report["cases_pseudonymised"] == 0
    assert s.scalar(sa.select(sa.func.count()).select_from(CasePhoto)
                    .where(CasePhoto.case_id == old.id)) == 0
    assert s.scalar(sa.select(sa.func.count()).select_from(CasePhoto)
                    .where(CasePhoto.case_id == recent.id)) == 1
    assert s.scalar(sa.select(Visit.photo_id).where(Visit.case_id == old.id)) is None


def test_personal_fields_of_cases_closed_five_years_ago_are_removed(s, app):
    old = _closed_case(s, app, NOW - 5 * 366 * DAY)
    kept = _closed_case(s, app, NOW - 4 * 365 * DAY)
    reference, born = old.reference, old.birth_date
    report = retention.purge(s, NOW)
    s.commit()
    assert report["cases_pseudonymised"] == 1
    s.expire_all()
    case = s.get(Case, old.id)
    assert case.child_name == reference and case.child_name_norm == ""
    assert case.birth_date == born.replace(month=1, day=1) and case.birth_precision == "year"
    assert (case.id_number, case.id_hash, case.guardian_name, case.guardian_phone,
            case.village, case.latitude, case.note) == (None,) * 7
    assert case.pseudonymised_at is not None
    assert (case.stage, case.target_group, case.subdistrict_code) == (
        "closed", "out_of_school", f.NAM_PHONG)  # the province's figures stay
    texts = [e.detail.get("text") for e in s.scalars(
        sa.select(TimelineEntry).where(TimelineEntry.case_id == old.id))]
    assert texts and all(t is None for t in texts)
    assert s.scalar(sa.select(Visit.note).where(Visit.case_id == old.id)) is None
    assert s.scalar(sa.select(Consent.guardian_name).where(Consent.case_id == old.id)) is None
    assert s.get(Case, kept.id).guardian_name == "บัวพันธ์ ใจดี"
    assert retention.purge(s, NOW)["cases_pseudonymised"] == 0  # once
    audited = s.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "retention.purge").order_by(AuditEntry.id)).all()
    assert audited[0].detail["cases_pseudonymised"] == 1 and audited[0].actor == "retention"


def test_periods_are_settings_and_the_command_reports_what_it_did(app, s):
    inbox(s, 9, 10)
    s.commit()
    assert retention.purge(s, NOW, retention.Periods(webhook_days=5))["webhook_payloads"] == 1
    s.commit()
    inbox(s, 10, 31)
    s.commit()
    s.close()
    proc = flask_command(["purge", "--at", NOW.isoformat()], flask_env(app))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {
        "webhook_payloads": 1, "outbox_rows": 0, "photos": 0, "cases_pseudonymised": 0,
        "drafts": 0}
    assert utcnow()  # the real clock was never needed


def draft(s, user: str, days_ago: float) -> ConversationState:
    row = ConversationState(line_user_id=user, flow="report", step="guardian",
                            draft=json.dumps({"child_name": "enc1:..."}), history="[]",
                            paused=True, expires_at=NOW - days_ago * DAY,
                            updated_at=NOW - days_ago * DAY)
    s.add(row)
    return row


def test_drafts_untouched_for_a_week_are_deleted(app, s):
    draft(s, "U-old", 7.5)
    draft(s, "U-recent", 6.5)
    s.commit()
    report = retention.purge(s, NOW)
    s.commit()
    assert report["drafts"] == 1
    left = s.scalars(sa.select(ConversationState.line_user_id)).all()
    assert left == ["U-recent"]
    [audit] = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "retention.purge"))
    assert audit.detail["drafts"] == 1
    # the period is a setting (RETENTION_DRAFT_DAYS)
    assert retention.Periods.from_config({"RETENTION_DRAFT_DAYS": "3"}).draft_days == 3
    assert app.config["RETENTION_DRAFT_DAYS"] == 7
    assert retention.purge(s, NOW, retention.Periods(draft_days=6))["drafts"] == 1
    s.commit()
    assert s.scalar(sa.select(sa.func.count()).select_from(ConversationState)) == 0
