"""`flask --app wsgi scheduler --once --at ...` across real processes, on each database: two
workers at 08:00 queue each reminder once, a later tick the same morning queues nothing, a
worker that was down at 08:00 catches the morning up once, and `worker --burst` delivers each
reminder through the emulator exactly once."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from bot.extensions import db
from models import BANGKOK, OutboxMessage, SchedulerRun
from services import workflow
from tests import factories as f
from tests.support import flask_command, flask_env, texts


@pytest.fixture
def s(app):
    with app.app_context():
        yield db.session
        db.session.rollback()
        db.session.remove()


def bkk(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=BANGKOK)


def scheduler(app, at: str, processes: int = 1) -> list[dict]:
    """Run `scheduler --once --at AT` in `processes` processes at once; their reports."""
    env = flask_env(app, QUIET_HOURS="")
    procs = [flask_command(["scheduler", "--once", "--at", at], env) for _ in range(processes)]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.extend(r for r in json.loads(out.strip().splitlines()[-1])
                       if r["job"] == "morning")  # the 03:00 retention job is tested apart
    return reports


def test_two_workers_at_eight_queue_each_reminder_once_and_a_missed_morning_is_caught_up(
        app, s, emulator):
    volunteers = [f.line_user(s) for _ in range(3)]
    officer_line = f.line_user(s, role="officer")
    learn = f.officer(s, agency="LEARN", area="4007", line=officer_line)
    since = bkk(10, 7) - dt.timedelta(days=30)
    cases = []
    for volunteer in volunteers:
        case = f.report(s, app.config["SECRET_KEY"], volunteer, now=since)
        workflow.transition(s, f.actor(learn), case, "in_support", now=since)
        cases.append(case)
    s.commit()
    case_keys = [(c.id, c.reference) for c in cases]
    volunteer_ids = [v.line_user_id for v in volunteers]
    learn_id, officer_user = learn.id, officer_line.line_user_id
    s.close()  # SQLite: hold no lock while the processes run

    reports = scheduler(app, "2026-12-10T08:00+07:00", processes=2)
    statuses = sorted(r["status"] for r in reports)
    assert statuses in (["done", "ran"], ["ran", "running"]), reports
    ran = next(r for r in reports if r["status"] == "ran")
    assert ran["result"]["visit_reminders"] == 3 and ran["result"]["digests"] == 1

    def queued(kind: str) -> list[str]:
        keys = list(s.scalars(sa.select(OutboxMessage.dedupe_key)
                              .where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)))
        s.rollback()
        return keys

    assert sorted(queued("reminder.visit")) == sorted(
        f"visit:{case_id}:2026-12-10" for case_id, _ in case_keys)
    assert queued("reminder.digest") == [f"digest:{learn_id}:2026-12-10"]

    # later the same morning: nothing new
    assert [r["status"] for r in scheduler(app, "2026-12-10T10:30")] == ["done"]
    assert len(queued("reminder.visit")) == 3

    # the next morning nobody was up at 08:00; a worker back at 10:30 catches up, once
    [late] = scheduler(app, "2026-12-11T10:30+07:00")
    assert late["status"] == "ran" and late["result"]["digests"] == 1
    assert late["result"]["visit_reminders"] == 0  # reminded yesterday: weekly from now on
    assert [r["status"] for r in scheduler(app, "2026-12-11T11:00+07:00")] == ["done"]
    assert queued("reminder.digest") == [f"digest:{learn_id}:2026-12-10",
                                         f"digest:{learn_id}:2026-12-11"]
    runs = dict(s.execute(sa.select(SchedulerRun.slot, SchedulerRun.status)
                          .where(SchedulerRun.job == "morning")).all())
    s.rollback()
    assert runs == {"2026-12-10": "done", "2026-12-11": "done"}

    # a worker delivers: one visit reminder per volunteer, two digests for the officer
    burst = flask_command(["worker", "--burst"], flask_env(app, QUIET_HOURS=""))
    out, err = burst.communicate(timeout=120)
    assert burst.returncode == 0, err
    for user_id, (_, reference) in zip(volunteer_ids, case_keys, strict=True):
        reminded = [t for t in texts(emulator.sent(user_id)) if "บันทึกการเยี่ยม" in t]
        assert len(reminded) == 1 and reference in reminded[0], reminded
    digests = [t for t in texts(emulator.sent(officer_user)) if "สวัสดีตอนเช้าค่ะ" in t]
    assert len(digests) == 2
