"""The scheduler (bot.scheduler) and QUIET_HOURS (bot.quiet_hours, bot.sender), on each
database: the 08:00 slot and its catch-up window, one run per slot across workers, a dead
worker's run taken over, a failed run retried, the worker's own tick at 08:00 (time-machine),
and quiet hours holding reminders — but not a parent's update — until they end."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
import sqlalchemy as sa
import time_machine

from bot.config import ConfigError, load_settings
from bot.extensions import db
from bot.quiet_hours import QuietHours
from bot.scheduler import JOBS, Job, Scheduler, parse_at, slot_state, too_far_ahead
from bot.sender import Sender
from bot.worker import make_client
from models import BANGKOK, Appointment, CaseGuardian, OutboxMessage, SchedulerRun, utcnow
from services import reminders, workflow
from services.notifications import notify, notify_once
from tests import factories as f
from tests.support import texts

MORNING_JOB = JOBS[0]
DEFAULT_QUIET = QuietHours.parse("20:00-07:00")


def bkk(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of December 2026 in Khon Kaen, as UTC."""
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=BANGKOK).astimezone(dt.UTC)


# -- reading the settings --------------------------------------------------------------------

def test_at_times_read_with_or_without_an_offset():
    assert parse_at("2026-12-10T08:00") == bkk(10, 8)
    assert parse_at("2026-12-10T08:00+07:00") == bkk(10, 8)
    assert parse_at("2026-12-10T01:00Z") == bkk(10, 8)
    assert parse_at(" 2026-12-10T08:00 ") == bkk(10, 8)


@pytest.mark.parametrize("bad, says", [
    ("", "empty"), ("   ", "empty"),
    ("tomorrow", "ISO time"), ("2026-13-01T08:00", "ISO time"),
    ("0001-01-01T00:00", "ISO time"),  # Khon Kaen's midnight is in year 0 in UTC: overflow
    ("9999-12-31T08:00+07:00", "out of range"),  # its next day overflowed in slot_state
    ("1999-12-31T08:00", "out of range"), ("2101-01-01T08:00", "out of range"),
])
def test_at_times_unreadable_empty_or_out_of_range_are_refused_with_the_reason(bad, says):
    with pytest.raises(ValueError) as refused:
        parse_at(bad)
    assert says in str(refused.value)


def test_an_at_time_ahead_of_the_clock_is_told_beyond_a_few_minutes():
    now = bkk(4, 10)
    assert too_far_ahead(bkk(4, 9), now) is None  # the past: a catch-up
    assert too_far_ahead(now + dt.timedelta(minutes=5), now) is None  # clock skew
    assert too_far_ahead(bkk(10, 8), now) == bkk(10, 8) - now


def test_quiet_hours_wrap_midnight_and_bad_settings_stop_start_up(tmp_path):
    quiet = DEFAULT_QUIET
    assert quiet.contains(bkk(10, 20)) and quiet.contains(bkk(10, 23, 59))
    assert quiet.contains(bkk(11, 6, 59)) and not quiet.contains(bkk(11, 7))
    assert not quiet.contains(bkk(10, 19, 59))
    assert quiet.end_after(bkk(10, 21)) == bkk(11, 7)
    assert quiet.end_after(bkk(11, 3)) == bkk(11, 7)
    assert quiet.end_after(bkk(11, 12)) == bkk(11, 12)
    same_day = QuietHours.parse("12.00-13.30")
    assert same_day.contains(bkk(10, 12, 45)) and not same_day.contains(bkk(10, 13, 30))
    assert QuietHours.parse("") is None and QuietHours.parse("  ") is None
    for bad in ("25:00-07:00", "20:00", "20:00-20:00", "eight-nine", "20:60-07:00"):
        with pytest.raises(ValueError):
            QuietHours.parse(bad)
        with pytest.raises(ConfigError):
            load_settings(str(tmp_path), {"QUIET_HOURS": bad})
    assert load_settings(str(tmp_path), {"QUIET_HOURS": ""})["QUIET_HOURS"] == ""


@pytest.mark.parametrize("moment, quiet, state", [
    (bkk(10, 7, 59), DEFAULT_QUIET, "not_yet"),
    (bkk(10, 8), DEFAULT_QUIET, "due"),
    (bkk(10, 19, 59), DEFAULT_QUIET, "due"),  # a worker back late in the day catches up
    (bkk(10, 20), DEFAULT_QUIET, "missed"),  # not an evening reminder an hour before the next
    (bkk(10, 23, 59), None, "due"),  # no quiet hours: until midnight
    (bkk(10, 8, 30), QuietHours.parse("07:00-09:00"), "due"),  # held by the sender instead
    (bkk(10, 23), QuietHours.parse("07:00-09:00"), "due"),
])
def test_the_morning_slot_and_its_catch_up_window(moment, quiet, state):
    assert slot_state(MORNING_JOB, moment, quiet) == ("2026-12-10", state)


# -- one run per slot ------------------------------------------------------------------------


def counting_job(calls: list, fail: int = 0) -> Job:
    def run(session, now):
        calls.append(now)
        if len(calls) <= fail:
            raise RuntimeError("the database went away")
        return {"calls": len(calls)}

    return Job("count", dt.time(8, 0), run)


def test_a_slot_runs_once_however_many_workers_tick(app, s):
    calls: list = []
    job = counting_job(calls)
    one, two = (Scheduler(app, name, jobs=[job]) for name in ("w1", "w2"))
    assert one.run_due(bkk(10, 7, 59))[0]["status"] == "not_yet"
    assert one.run_due(bkk(10, 8))[0]["status"] == "ran"
    assert two.run_due(bkk(10, 8))[0]["status"] == "done"
    assert one.run_due(bkk(10, 11))[0]["status"] == "done"
    assert two.run_due(bkk(10, 21))[0]["status"] == "done"
    assert len(calls) == 1
    row = s.get(SchedulerRun, ("count", "2026-12-10"))
    assert (row.status, row.owner, json.loads(row.result)) == ("done", "w1", {"calls": 1})


def test_a_day_nobody_ran_before_quiet_hours_is_recorded_missed(app, s):
    calls: list = []
    job = counting_job(calls)
    scheduler = Scheduler(app, "w1", jobs=[job])
    assert scheduler.run_due(bkk(10, 21))[0]["status"] == "missed"
    assert scheduler.run_due(bkk(11, 8, 5))[0]["status"] == "ran"  # the next morning runs
    assert calls == [bkk(11, 8, 5)]
    assert s.get(SchedulerRun, ("count", "2026-12-10")).status == "missed"


def test_a_dead_workers_run_is_taken_over_when_its_lease_expires(app, s):
    calls: list = []
    job = counting_job(calls)
    s.add(SchedulerRun(job="count", slot="2026-12-10", status="running", owner="dead",
                       lease_expires_at=utcnow() + dt.timedelta(minutes=5)))
    s.commit()
    scheduler = Scheduler(app, "w2", jobs=[job])
    assert scheduler.run_due(bkk(10, 9))[0]["status"] == "running"  # still leased
    s.execute(sa.update(SchedulerRun).values(lease_expires_at=utcnow() - dt.timedelta(1)))
    s.commit()
    assert scheduler.run_due(bkk(10, 9))[0]["status"] == "ran"
    assert len(calls) == 1


def test_a_failed_run_is_tried_again_at_the_next_tick(app, s):
    calls: list = []
    scheduler = Scheduler(app, "w1", jobs=[counting_job(calls, fail=1)])
    assert scheduler.run_due(bkk(10, 8))[0]["status"] == "failed"
    assert scheduler.run_due(bkk(10, 8, 1))[0]["status"] == "ran"
    assert len(calls) == 2


def test_the_workers_tick_runs_the_morning_job_at_eight_in_khon_kaen(app, s, worker):
    volunteer = f.line_user(s)
    learn = f.actor(f.officer(s, agency="LEARN", area="4007"))
    case = f.report(s, app.config["SECRET_KEY"], volunteer, now=bkk(1, 9) - dt.timedelta(30))
    workflow.transition(s, learn, case, "in_support", now=bkk(10, 7) - dt.timedelta(30))
    s.commit()
    worker.scheduler.interval = 0.001
    worker.scheduler.jobs = [MORNING_JOB]
    with time_machine.travel(bkk(10, 7, 59, ), tick=False):
        assert worker.scheduler.tick()[0]["status"] == "not_yet"
    worker.scheduler.next_tick = 0
    with time_machine.travel(bkk(10, 8, 0), tick=False):
        [report] = worker.scheduler.tick()
    assert report["status"] == "ran" and report["result"]["visit_reminders"] == 1
    keys = list(s.scalars(sa.select(OutboxMessage.dedupe_key)
                          .where(OutboxMessage.kind == "reminder.visit")))
    assert keys == [f"visit:{case.id}:2026-12-10"]


# -- quiet hours -----------------------------------------------------------------------------

def test_quiet_hours_hold_a_reminder_but_not_a_parents_update(app, s, emulator):
    parent = f.line_user(s, role="parent")
    notify_once(s, "visit:1:2026-12-10", parent.line_user_id, "reminder.digest", quiet=True,
                officer_id=1, overdue=2, by_stage={"received": 2}, escalated=0, stale=0,
                oldest=[])
    notify(s, parent.line_user_id, "case.parent_update", case_id=1, reference="KK-2569-00001",
           child="เด็กหญิงมะลิ ดีงาม", stage="in_support", event="stage", agency="LEARN")
    s.commit()
    clock = [bkk(10, 21)]
    sender = Sender(db.session, make_client(app), "test", clock=lambda: clock[0],
                    quiet=DEFAULT_QUIET)
    sender.send_due()
    sent = texts(emulator.sent(parent.line_user_id))
    assert len(sent) == 1 and "มะลิ" in sent[0]  # the update went at 21:00
    held = s.scalars(sa.select(OutboxMessage).where(OutboxMessage.quiet.is_(True))).one()
    s.refresh(held)
    assert held.status == "pending" and held.next_attempt_at == bkk(11, 7)

    clock[0] = bkk(11, 6, 59)
    sender.send_due()
    assert len(emulator.sent(parent.line_user_id)) == 1
    clock[0] = bkk(11, 7, 0)
    sender.send_due()
    sent = texts(emulator.sent(parent.line_user_id))
    assert len(sent) == 2 and "สวัสดีตอนเช้าค่ะ" in sent[1]


def test_with_quiet_hours_off_a_reminder_leaves_at_once(app, s, emulator):
    parent = f.line_user(s, role="parent")
    notify_once(s, "k1", parent.line_user_id, "reminder.digest", quiet=True, officer_id=1,
                overdue=1, by_stage={"received": 1}, escalated=0, stale=0, oldest=[])
    s.commit()
    Sender(db.session, make_client(app), "test", clock=lambda: bkk(10, 23),
           quiet=None).send_due()
    assert len(emulator.sent(parent.line_user_id)) == 1



# -- a long morning keeps its lease ----------------------------------------------------------

def test_a_job_longer_than_its_lease_keeps_it_and_is_not_run_twice(app, s):
    """The lease is renewed while the job runs: a second worker ticking after the first
    lease would have run out finds the slot running, not free to take."""
    seen: dict = {}

    def long_job(session, now):
        if "started" in seen:  # a second run at the same time: what the lease prevents
            seen["ran_twice"] = True
            return {}
        seen["started"] = True
        row = s.get(SchedulerRun, ("long", "2026-12-10"))
        first_lease = row.lease_expires_at
        s.rollback()
        deadline = time.monotonic() + 10
        while utcnow() < first_lease + dt.timedelta(seconds=0.5):  # past the first lease
            assert time.monotonic() < deadline
            time.sleep(0.05)
        result: list = []
        other = threading.Thread(target=lambda: result.append(_run_in_thread(app, job)))
        other.start()
        other.join()
        seen["other"] = result[0]
        renewed = s.get(SchedulerRun, ("long", "2026-12-10"), populate_existing=True)
        seen["renewed"] = renewed.lease_expires_at > first_lease
        s.rollback()
        return {"ok": True}

    job = Job("long", dt.time(8, 0), long_job)
    first = Scheduler(app, "w1", jobs=[job])
    first.lease = dt.timedelta(seconds=1.2)  # renewed every 0.4 s
    assert first.run_due(bkk(10, 8))[0]["status"] == "ran"
    assert seen == {"started": True, "other": "running", "renewed": True}
    row = s.get(SchedulerRun, ("long", "2026-12-10"))
    assert (row.status, row.owner) == ("done", "w1")


def _run_in_thread(app, job: Job) -> str:
    with app.app_context():
        try:
            return Scheduler(app, "w2", jobs=[job]).run_due(bkk(10, 8, 30))[0]["status"]
        finally:
            db.session.remove()


# -- reminders checked again just before they go -------------------------------------------

def test_reminders_held_overnight_are_checked_again_before_they_go(app, s, emulator):
    """Queued at 19:59, held from 20:00 to 07:00: at 07:00 a case visited overnight is not
    reminded, nor a cancelled appointment; the others read as of the morning they arrive
    ("1 day ago", "today"), not as of the evening they were queued."""
    volunteer, other = f.line_user(s), f.line_user(s)
    parent = f.line_user(s, role="parent")
    learn = f.actor(f.officer(s, agency="LEARN", area="4007"))
    since = bkk(10, 9) - dt.timedelta(days=30)
    waiting, visited = (f.report(s, app.config["SECRET_KEY"], who, now=since - dt.timedelta(1))
                        for who in (volunteer, other))
    for case in (waiting, visited):
        workflow.transition(s, learn, case, "in_support", now=since)
    s.add(CaseGuardian(case_id=waiting.id, line_user_id=parent.id))
    kept = workflow.set_appointment(s, learn, waiting, bkk(11, 9, 30), now=bkk(9, 9))
    dropped = workflow.set_appointment(s, learn, visited, bkk(11, 10), now=bkk(9, 9))
    s.add(CaseGuardian(case_id=visited.id, line_user_id=parent.id))
    s.commit()
    evening = bkk(10, 19, 59)
    assert reminders.visit_reminders(s, evening) == 2
    assert reminders.appointment_reminders(s, evening) == 2
    s.commit()
    clock = [bkk(10, 20)]
    sender = Sender(db.session, make_client(app), "test", clock=lambda: clock[0],
                    quiet=DEFAULT_QUIET)
    while sender.send_due():  # the case updates go (one per user a round); reminders wait
        pass
    held = s.scalars(sa.select(OutboxMessage).where(OutboxMessage.quiet.is_(True))).all()
    assert {(r.status, r.next_attempt_at) for r in held} == {("pending", bkk(11, 7))}
    assert len(held) == 4
    seen = max([item["seq"] for item in emulator.sent()], default=0)
    workflow.record_visit(s, learn, visited, "found", now=bkk(10, 21))  # overnight
    s.get(Appointment, dropped.id).cancelled_at = bkk(10, 22)
    s.commit()
    clock[0] = bkk(11, 7)
    while sender.send_due():
        pass
    assert texts(emulator.sent(other.line_user_id, after=seen)) == []
    [reminder] = texts(emulator.sent(volunteer.line_user_id, after=seen))
    assert "เลยมา 1 วัน" in reminder and waiting.reference in reminder
    [appointment] = texts(emulator.sent(parent.line_user_id, after=seen))
    assert appointment.startswith("แจ้งเตือนค่ะ วันนี้ 11 ธ.ค. 2569 เวลา 09:30 น.")
    skipped = {r.dedupe_key: r.last_error for r in s.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.status == OutboxMessage.SKIPPED))}
    assert skipped == {f"visit:{visited.id}:2026-12-10": "no longer due",
                       f"appointment:{dropped.id}:{parent.line_user_id}": "no longer due"}
    assert s.get(Appointment, kept.id).reminded_at is not None
