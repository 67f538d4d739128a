"""The scheduler (bot.scheduler) and QUIET_HOURS (bot.quiet_hours, bot.sender), on each
database: the 08:00 slot and its catch-up window, one run per slot across workers, a dead
worker's run taken over, a failed run retried, the worker's own tick at 08:00 (time-machine),
and quiet hours holding reminders — but not a parent's update — until they end."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
import time_machine

from bot.config import ConfigError, load_settings
from bot.extensions import db
from bot.quiet_hours import QuietHours
from bot.scheduler import JOBS, Job, Scheduler, parse_at, slot_state
from bot.sender import Sender
from bot.worker import make_client
from models import BANGKOK, OutboxMessage, SchedulerRun, utcnow
from services import workflow
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
    for bad in ("tomorrow", "2026-13-01T08:00", ""):
        with pytest.raises(ValueError):
            parse_at(bad)


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

@pytest.fixture
def s(app):
    with app.app_context():
        yield db.session
        db.session.rollback()
        db.session.remove()


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
