"""services.reminders on each database: escalation steps (each once, ended by action), home
visit reminders (due day, weekly while overdue, once per day however often the job runs),
tomorrow's appointments for parents, officers' morning digests (and what supervisors see), and
how each renders in Thai and English."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from bot.outbox import render
from bot.quiet_hours import QuietHours
from bot.scheduler import JOBS, Scheduler
from models import (
    BANGKOK,
    Appointment,
    Case,
    CaseGuardian,
    OutboxMessage,
    TimelineEntry,
)
from services import queue, reminders, subject_rights, workflow
from services.access import Actor
from tests import factories as f

DAY = dt.timedelta(days=1)
#: 08:00 in Khon Kaen on 10 Dec 2026 (01:00 UTC)
MORNING = dt.datetime(2026, 12, 10, 8, 0, tzinfo=BANGKOK).astimezone(dt.UTC)



@pytest.fixture
def learn(s):
    return f.actor(f.officer(s, agency="LEARN", area="4007"))


@pytest.fixture
def volunteer(s):
    return f.line_user(s)


@pytest.fixture
def helped(s, app, volunteer, learn):
    """A case being helped since `since`: its visit falls due 30 days later."""

    def make(since: dt.datetime, reporter=None, **changes) -> Case:
        case = f.report(s, app.config["SECRET_KEY"], reporter or volunteer, now=since,
                        **changes)
        workflow.transition(s, learn, case, "in_support", now=since)
        s.commit()
        return case

    return make


def rows(s, kind: str) -> list[OutboxMessage]:
    return list(s.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind)
                          .order_by(OutboxMessage.id)))


def payloads(s, kind: str) -> list[dict]:
    return [json.loads(r.payload) for r in rows(s, kind)]


def escalations(s, case: Case) -> list[dict]:
    return [e.detail for e in s.scalars(
        sa.select(TimelineEntry).where(TimelineEntry.case_id == case.id,
                                       TimelineEntry.kind == "escalated")
        .order_by(TimelineEntry.id))]


# -- escalation ------------------------------------------------------------------------------

def test_escalation_goes_to_the_district_then_the_province_each_step_once(s, helped, learn):
    case = helped(MORNING - 40 * DAY)  # visit due 10 days ago
    touched = case.updated_at
    assert reminders.escalate(s, MORNING) == {"district": 1, "province": 0}
    assert reminders.escalate(s, MORNING) == {"district": 0, "province": 0}
    s.commit()
    s.refresh(case)
    assert case.escalation == 1
    assert case.updated_at == touched  # an escalation is not a touch
    assert escalations(s, case) == [{"level": "district", "days_overdue": 10}]
    supervisor = f.actor(f.officer(s, role="supervisor", agency="LEARN", area="4007"))
    listed, _ = queue.list_cases(s, supervisor, queue.CaseFilters(escalated="district"))
    assert [c.reference for c in listed] == [case.reference]
    assert queue.list_cases(s, supervisor, queue.CaseFilters(escalated="province"))[0] == []

    assert reminders.escalate(s, MORNING + 12 * DAY) == {"district": 0, "province": 1}
    assert reminders.escalate(s, MORNING + 13 * DAY) == {"district": 0, "province": 0}
    s.commit()
    assert [e["level"] for e in escalations(s, case)] == ["district", "province"]

    # a visit moves the deadline ahead: the escalation ends; a new lateness starts again
    workflow.record_visit(s, learn, case, "found", now=MORNING + 14 * DAY)
    s.commit()
    assert case.escalation == 0
    assert reminders.escalate(s, MORNING + 52 * DAY) == {"district": 1, "province": 0}
    assert [e["level"] for e in escalations(s, case)] == ["district", "province", "district"]


def test_a_case_found_very_late_gets_both_steps_and_closed_cases_none(s, helped, learn):
    late = helped(MORNING - 60 * DAY)
    closed = helped(MORNING - 60 * DAY)
    workflow.record_service(s, learn, closed, "learn_enrolment", now=MORNING - 59 * DAY)
    workflow.record_visit(s, learn, closed, "back_in_school", now=MORNING - 58 * DAY)
    workflow.transition(s, learn, closed, "closed", now=MORNING - 57 * DAY)
    s.commit()
    assert reminders.escalate(s, MORNING) == {"district": 1, "province": 1}
    assert [e["level"] for e in escalations(s, late)] == ["district", "province"]
    assert escalations(s, closed) == []


# -- volunteers: visits due ------------------------------------------------------------------

def test_a_due_visit_is_reminded_once_a_day_then_weekly_while_overdue(s, helped, volunteer):
    case = helped(MORNING - 30 * DAY)  # due today (08:00 + 30 days ago)
    assert reminders.visit_reminders(s, MORNING) == 1
    assert reminders.visit_reminders(s, MORNING + dt.timedelta(hours=3)) == 0  # same day
    s.commit()
    [row] = rows(s, "reminder.visit")
    assert row.recipient == volunteer.line_user_id
    assert row.quiet is True
    assert row.dedupe_key == f"visit:{case.id}:2026-12-10"
    assert json.loads(row.payload)["overdue_days"] == 0

    for days in range(1, 7):  # overdue, but reminded less than a week ago
        assert reminders.visit_reminders(s, MORNING + days * DAY) == 0
    assert reminders.visit_reminders(s, MORNING + 7 * DAY) == 1
    s.commit()
    assert [p["overdue_days"] for p in payloads(s, "reminder.visit")] == [0, 7]


def test_even_if_the_weekly_rule_is_bypassed_a_key_sends_once_per_case_and_day(s, helped):
    case = helped(MORNING - 30 * DAY)
    assert reminders.visit_reminders(s, MORNING) == 1
    s.execute(sa.update(Case).where(Case.id == case.id).values(visit_reminded_on=None))
    assert reminders.visit_reminders(s, MORNING) == 0  # the unique key holds
    s.commit()
    assert len(rows(s, "reminder.visit")) == 1


def test_no_visit_reminder_before_due_after_a_visit_or_outside_follow_up(s, app, helped, learn,
                                                                         volunteer):
    not_yet = helped(MORNING - 29 * DAY)  # due tomorrow
    visited = helped(MORNING - 40 * DAY)
    workflow.record_visit(s, learn, visited, "found", now=MORNING - DAY)
    checking = f.report(s, app.config["SECRET_KEY"], volunteer, now=MORNING - 40 * DAY)
    parent = f.line_user(s, role="parent")
    self_reported = helped(MORNING - 40 * DAY, reporter=parent)
    s.execute(sa.update(Case).where(Case.id == self_reported.id).values(self_reported=True))
    gone = f.line_user(s)
    gone.followed = False
    unfollowed = helped(MORNING - 40 * DAY, reporter=gone)
    s.commit()
    assert reminders.visit_reminders(s, MORNING) == 0
    assert {not_yet.stage, visited.stage, checking.stage, unfollowed.stage} == {"in_support",
                                                                                 "received"}
    assert reminders.visit_reminders(s, MORNING + DAY) == 1  # not_yet is due now
    assert payloads(s, "reminder.visit")[0]["case_id"] == not_yet.id


# -- parents: tomorrow's appointment ---------------------------------------------------------

def _link(s, case, parent, unlinked=False):
    s.add(CaseGuardian(case_id=case.id, line_user_id=parent.id,
                       unlinked_at=MORNING if unlinked else None))
    s.commit()


def test_a_parent_is_reminded_the_day_before_an_appointment_once(s, helped, learn):
    case = helped(MORNING - 5 * DAY)
    mother, father, former = (f.line_user(s, role="parent") for _ in range(3))
    _link(s, case, mother)
    _link(s, case, father)
    _link(s, case, former, unlinked=True)
    tomorrow_0930 = dt.datetime(2026, 12, 11, 9, 30, tzinfo=BANGKOK)
    appointment = workflow.set_appointment(s, learn, case, tomorrow_0930, place="กศน.น้ำพอง",
                                           purpose="สมัครเรียน", now=MORNING - DAY)
    later = workflow.set_appointment(s, learn, case, tomorrow_0930 + DAY, now=MORNING - DAY)
    cancelled = workflow.set_appointment(s, learn, case, tomorrow_0930, now=MORNING - DAY)
    cancelled.cancelled_at = MORNING - DAY
    s.commit()

    assert reminders.appointment_reminders(s, MORNING) == 2
    assert reminders.appointment_reminders(s, MORNING + dt.timedelta(hours=5)) == 0
    s.commit()
    sent = rows(s, "reminder.appointment")
    assert {r.recipient for r in sent} == {mother.line_user_id, father.line_user_id}
    assert {json.loads(r.payload)["at"] for r in sent} == {
        tomorrow_0930.astimezone(dt.UTC).isoformat()}
    assert all(r.quiet for r in sent)
    assert s.get(Appointment, appointment.id).reminded_at is not None
    assert s.get(Appointment, later.id).reminded_at is None
    # the next day, the later appointment's turn
    assert reminders.appointment_reminders(s, MORNING + DAY) == 2


# -- officers: the morning digest ------------------------------------------------------------

def test_an_officer_gets_one_digest_with_counts_and_the_five_oldest(s, app, helped, volunteer):
    account = f.officer(s, agency="LEARN", area="4007", line=f.line_user(s, role="officer"))
    f.officer(s, agency="LEARN", area="4007")  # not on LINE: no digest
    quiet_one = f.officer(s, agency="SOCIAL", area="40", line=f.line_user(s, role="officer"))
    late = [helped(MORNING - (40 + i) * DAY) for i in range(6)]  # 10..15 days late
    checking = f.report(s, app.config["SECRET_KEY"], volunteer, now=MORNING - 9 * DAY)
    helped(MORNING - 5 * DAY)  # not late
    s.commit()

    assert reminders.officer_digests(s, MORNING) == 1
    assert reminders.officer_digests(s, MORNING) == 0
    s.commit()
    [row] = rows(s, "reminder.digest")
    digest = json.loads(row.payload)
    assert row.recipient != quiet_one.line_user_id
    assert row.dedupe_key == f"digest:{account.id}:2026-12-10"
    assert digest["overdue"] == 7
    assert digest["by_stage"] == {"in_support": 6, "received": 1}
    assert [c["reference"] for c in digest["oldest"]] == [c.reference for c in late[::-1][:5]]
    assert digest["oldest"][0]["days_overdue"] == 15
    assert checking.reference not in [c["reference"] for c in digest["oldest"]]
    assert digest["supervisor"] is False


def test_supervisors_see_escalations_of_their_level_and_stale_cases(s, helped):
    district = f.officer(s, role="supervisor", agency="LEARN", area="4007",
                         line=f.line_user(s, role="officer"))
    province = f.officer(s, role="supervisor", agency="EDU", area="40",
                         line=f.line_user(s, role="officer"))
    ten_days = helped(MORNING - 40 * DAY)
    thirty_days = helped(MORNING - 60 * DAY)
    s.execute(sa.update(Case).values(updated_at=MORNING - 31 * DAY)
              .where(Case.id == thirty_days.id))
    s.commit()
    reminders.morning(s, MORNING)
    s.commit()
    by_officer = {json.loads(r.payload)["officer_id"]: json.loads(r.payload)
                  for r in rows(s, "reminder.digest")}
    assert by_officer[district.id]["level"] == "district"
    assert by_officer[district.id]["escalated"] == 2
    assert by_officer[district.id]["stale"] == 1
    assert by_officer[province.id]["level"] == "province"
    assert by_officer[province.id]["escalated"] == 1
    assert [c["reference"] for c in by_officer[province.id]["oldest"]] == [
        thirty_days.reference]
    assert ten_days.escalation == 0 or True  # loaded before the job; the database says:
    assert s.scalar(sa.select(Case.escalation).where(Case.id == ten_days.id)) == 1
    supervisor = Actor.for_officer(district)
    stale, _ = queue.list_cases(s, supervisor, queue.CaseFilters(stale=True), now=MORNING)
    assert [c.reference for c in stale] == [thirty_days.reference]


def test_the_morning_job_run_twice_queues_nothing_the_second_time(s, helped, learn):
    f.officer(s, agency="LEARN", area="4007", line=f.line_user(s, role="officer"))
    helped(MORNING - 30 * DAY)
    helped(MORNING - 50 * DAY)
    s.commit()
    first = reminders.morning(s, MORNING)
    s.commit()
    second = reminders.morning(s, MORNING + dt.timedelta(minutes=5))
    assert first == {"escalated": {"district": 1, "province": 0}, "visit_reminders": 2,
                     "appointment_reminders": 0, "digests": 1}
    assert second == {"escalated": {"district": 0, "province": 0}, "visit_reminders": 0,
                      "appointment_reminders": 0, "digests": 0}


# -- how they read ---------------------------------------------------------------------------

def _render(s, kind: str, language: str):
    row = rows(s, kind)[0]
    with force_locale(language):
        return render(row, None)


def test_the_visit_reminder_reads_in_thai_and_english_and_opens_the_visit_flow(s, helped):
    case = helped(MORNING - 37 * DAY, name="เด็กชายสมชาย ใจดี")
    reminders.visit_reminders(s, MORNING)
    s.commit()
    [message] = _render(s, "reminder.visit", "th")
    assert "น้องสมชาย" in message["text"] and case.reference in message["text"]
    assert "เลยมา 7 วัน" in message["text"] and "3 ธ.ค. 2569" in message["text"]
    items = message["quickReply"]["items"]
    assert items[0]["action"]["label"] == "บันทึกการเยี่ยม"
    assert parse_qs(items[0]["action"]["data"]) == {"a": ["visit"], "id": [str(case.id)]}
    assert all(len(i["action"]["label"]) <= 20 for i in items)
    [english] = _render(s, "reminder.visit", "en")
    assert "7 days ago" in english["text"] and "3 Dec 2026" in english["text"]


def test_the_appointment_reminder_and_the_digest_read_in_thai(s, helped, learn):
    case = helped(MORNING - 40 * DAY, name="เด็กหญิงมะลิ ดีงาม")
    parent = f.line_user(s, role="parent")
    _link(s, case, parent)
    f.officer(s, agency="LEARN", area="4007", line=f.line_user(s, role="officer"))
    workflow.set_appointment(s, learn, case, dt.datetime(2026, 12, 11, 9, 30, tzinfo=BANGKOK),
                             place="กศน.อำเภอน้ำพอง", now=MORNING - DAY)
    s.commit()
    reminders.morning(s, MORNING)
    s.commit()
    [appointment] = _render(s, "reminder.appointment", "th")
    assert appointment["text"].startswith("แจ้งเตือนค่ะ พรุ่งนี้ 11 ธ.ค. 2569 เวลา 09:30 น.")
    assert "น้องมะลิ" in appointment["text"] and "กศน.อำเภอน้ำพอง" in appointment["text"]
    [digest] = _render(s, "reminder.digest", "th")
    assert "เลยกำหนด 1 เรื่อง" in digest["text"]
    assert f"{case.reference} น้องมะลิ เลยกำหนด 10 วัน" in digest["text"]
    assert parse_qs(digest["quickReply"]["items"][0]["action"]["data"]) == {
        "a": ["menu"], "v": ["my_work"]}


# -- parents: a morning missed does not lose an appointment's reminder ------------------------

def test_a_missed_morning_still_reminds_todays_appointment_once_and_says_today(s, helped,
                                                                               learn):
    """The job did not run on 10 Dec (the worker was down all day): on 11 Dec at 08:00 the
    parent still hears of the 09:30 appointment — today, not tomorrow — and only once."""
    case = helped(MORNING - 5 * DAY, name="เด็กหญิงมะลิ ดีงาม")
    parent = f.line_user(s, role="parent")
    _link(s, case, parent)
    today_0930 = dt.datetime(2026, 12, 11, 9, 30, tzinfo=BANGKOK)
    appointment = workflow.set_appointment(s, learn, case, today_0930, place="กศน.น้ำพอง",
                                           now=MORNING - DAY)
    gone_by = workflow.set_appointment(s, learn, case, today_0930 - dt.timedelta(hours=2),
                                       now=MORNING - DAY)  # 07:30 on the 11th: past at 08:00
    s.commit()
    next_morning = MORNING + DAY
    assert reminders.appointment_reminders(s, next_morning) == 1
    assert reminders.appointment_reminders(s, next_morning + dt.timedelta(hours=1)) == 0
    s.commit()
    [row] = rows(s, "reminder.appointment")
    payload = json.loads(row.payload)
    assert (payload["day"], row.dedupe_key) == ("today", f"appointment:{appointment.id}:"
                                                         f"{parent.line_user_id}")
    assert s.get(Appointment, gone_by.id).reminded_at is None
    [message] = _render(s, "reminder.appointment", "th")
    assert message["text"].startswith("แจ้งเตือนค่ะ วันนี้ 11 ธ.ค. 2569 เวลา 09:30 น.")
    with force_locale("en"):
        [english] = render(rows(s, "reminder.appointment")[0], None)
    assert "an appointment today, 11 Dec 2026 at 09:30" in english["text"]


def test_an_appointment_reminded_the_day_before_is_not_reminded_again_on_the_day(s, helped,
                                                                                  learn):
    case = helped(MORNING - 5 * DAY)
    parent = f.line_user(s, role="parent")
    _link(s, case, parent)
    workflow.set_appointment(s, learn, case, dt.datetime(2026, 12, 11, 15, 0, tzinfo=BANGKOK),
                             now=MORNING - DAY)
    s.commit()
    assert reminders.appointment_reminders(s, MORNING) == 1  # the day before: "tomorrow"
    s.commit()
    assert reminders.appointment_reminders(s, MORNING + DAY) == 0  # not again on the day
    assert [p["day"] for p in payloads(s, "reminder.appointment")] == ["tomorrow"]


def test_the_scheduler_missing_a_whole_day_still_reminds_the_appointment(s, app, helped, learn):
    """Across the catch-up window: nobody ran on the 10th before quiet hours (recorded missed);
    the next morning's run covers the appointment now "today"."""
    case = helped(MORNING - 5 * DAY)
    parent = f.line_user(s, role="parent")
    _link(s, case, parent)
    workflow.set_appointment(s, learn, case, dt.datetime(2026, 12, 11, 13, 0, tzinfo=BANGKOK),
                             now=MORNING - DAY)
    s.commit()
    scheduler = Scheduler(app, "w1", jobs=[JOBS[0]])
    evening = MORNING + dt.timedelta(hours=13)  # 21:00 on the 10th, quiet hours
    scheduler.quiet = QuietHours.parse("20:00-07:00")
    assert scheduler.run_due(evening)[0]["status"] == "missed"
    [report] = scheduler.run_due(MORNING + DAY)
    assert report["status"] == "ran" and report["result"]["appointment_reminders"] == 1
    assert [p["day"] for p in payloads(s, "reminder.appointment")] == ["today"]


# -- erased cases ----------------------------------------------------------------------------

def test_an_erased_open_case_is_never_stale_reminded_or_escalated(s, helped, learn):
    """Erased at the guardian's request, the case stays open (the counts keep it) but can no
    longer be changed: nothing to freshen, visit or escalate."""
    supervisor = f.officer(s, role="supervisor", agency="LEARN", area="4007",
                           line=f.line_user(s, role="officer"))
    kept = helped(MORNING - 60 * DAY)
    erased = helped(MORNING - 60 * DAY)
    subject_rights.erase_case(s, learn, erased, now=MORNING - 40 * DAY)
    s.execute(sa.update(Case).where(Case.id.in_([kept.id, erased.id]))
              .values(updated_at=MORNING - 31 * DAY))
    s.commit()
    result = reminders.morning(s, MORNING)
    s.commit()
    assert result["escalated"] == {"district": 1, "province": 1}  # the kept case only
    assert [p["case_id"] for p in payloads(s, "reminder.visit")] == [kept.id]
    [digest] = [p for p in payloads(s, "reminder.digest") if p["officer_id"] == supervisor.id]
    assert digest["stale"] == 1
    stale, _ = queue.list_cases(s, Actor.for_officer(supervisor),
                                queue.CaseFilters(stale=True), now=MORNING)
    assert [c.id for c in stale] == [kept.id]
    s.refresh(erased)
    assert erased.stage == "in_support" and not reminders.is_stale(erased, MORNING)
