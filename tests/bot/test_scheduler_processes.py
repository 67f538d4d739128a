"""`flask --app wsgi scheduler --once --at ...` and workers across real processes, on each
database: two schedulers at 08:00 queue each reminder once, a later tick the same morning
queues nothing, a worker that was down at 08:00 catches the morning up once; two workers
ticking through 08:00 at the same moment send each reminder exactly once; quiet hours hold
the real morning job's reminders (not replies, parent updates or push fallbacks) until they
end, when each goes once and a case visited meanwhile is not reminded; escalation steps on
the timeline once however often the job runs; and `--at` values that are empty, unreadable,
out of range or in the future are refused before anything runs.

A worker that must live "on 10 Dec" or "at the end of quiet hours" runs as
`flask --app tests.apps.clock_app worker` with SAMOE_TEST_NOW (its clock starts there)."""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
from collections import Counter

import sqlalchemy as sa

from bot.quiet_hours import QuietHours
from models import (
    BANGKOK,
    Case,
    CaseGuardian,
    LineUser,
    OutboxMessage,
    SchedulerRun,
    TimelineEntry,
    utcnow,
)
from services import workflow
from tests import factories as f
from tests.support import flask_command, flask_env, texts, wait_until

CLOCK_APP = "tests.apps.clock_app"
REMINDER = "บันทึกการเยี่ยม"  # the visit reminder's button, in its text too
DIGEST = "สวัสดีตอนเช้าค่ะ"



def bkk(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=BANGKOK)


def run(app, args: list[str], app_module: str = "wsgi", **env) -> tuple[int, str, str]:
    proc = flask_command(args, flask_env(app, **env), app_module=app_module)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def scheduler(app, at: str, processes: int = 1, quiet: str = "") -> list[dict]:
    """Run `scheduler --once --at AT --allow-future` in `processes` processes at once; the
    morning job's reports (the 03:00 retention job is tested apart)."""
    env = flask_env(app, QUIET_HOURS=quiet, DASHBOARD_REFRESH_SECONDS="0")
    procs = [flask_command(["scheduler", "--once", "--at", at, "--allow-future"], env)
             for _ in range(processes)]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.extend(r for r in json.loads(out.strip().splitlines()[-1])
                       if r["job"] == "morning")
    return reports


def burst(app, at: dt.datetime | None = None, quiet: str = "") -> None:
    """`worker --burst`: on the real clock, or in a process whose clock starts at `at`."""
    extra = {"QUIET_HOURS": quiet, "DASHBOARD_REFRESH_SECONDS": "0"}
    if at is not None:
        extra["SAMOE_TEST_NOW"] = at.isoformat()
    code, _out, err = run(app, ["worker", "--burst"], CLOCK_APP if at else "wsgi", **extra)
    assert code == 0, err


def helped_cases(app, s, volunteers, due: dt.datetime, learn) -> list:
    """One case per volunteer, being helped, its home visit due at `due`."""
    since = due - dt.timedelta(days=30)
    made = []
    for volunteer in volunteers:
        case = f.report(s, app.config["SECRET_KEY"], volunteer, now=since - dt.timedelta(1))
        workflow.transition(s, f.actor(learn), case, "in_support", now=since)
        made.append(case)
    s.commit()
    return made


def queued(s, kind: str) -> list[str]:
    keys = list(s.scalars(sa.select(OutboxMessage.dedupe_key)
                          .where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)))
    s.rollback()
    return keys


def test_two_schedulers_at_eight_queue_each_reminder_once_and_a_missed_morning_is_caught_up(
        app, s, emulator):
    volunteers = [f.line_user(s) for _ in range(3)]
    officer_line = f.line_user(s, role="officer")
    learn = f.officer(s, agency="LEARN", area="4007", line=officer_line)
    cases = helped_cases(app, s, volunteers, bkk(10, 7), learn)
    case_keys = [(c.id, c.reference) for c in cases]
    volunteer_ids = [v.line_user_id for v in volunteers]
    learn_id, officer_user = learn.id, officer_line.line_user_id
    s.close()  # SQLite: hold no lock while the processes run

    reports = scheduler(app, "2026-12-10T08:00+07:00", processes=2)
    statuses = sorted(r["status"] for r in reports)
    assert statuses in (["done", "ran"], ["ran", "running"]), reports  # one ran, never two
    ran = next(r for r in reports if r["status"] == "ran")
    assert ran["result"]["visit_reminders"] == 3 and ran["result"]["digests"] == 1
    assert sorted(queued(s, "reminder.visit")) == sorted(
        f"visit:{case_id}:2026-12-10" for case_id, _ in case_keys)
    assert queued(s, "reminder.digest") == [f"digest:{learn_id}:2026-12-10"]

    # later the same morning: nothing new
    assert [r["status"] for r in scheduler(app, "2026-12-10T10:30")] == ["done"]
    assert len(queued(s, "reminder.visit")) == 3

    # the next morning nobody was up at 08:00; a worker back at 10:30 catches up, once
    [late] = scheduler(app, "2026-12-11T10:30+07:00")
    assert late["status"] == "ran" and late["result"]["digests"] == 1
    assert late["result"]["visit_reminders"] == 0  # reminded yesterday: weekly from now on
    assert [r["status"] for r in scheduler(app, "2026-12-11T11:00+07:00")] == ["done"]
    assert queued(s, "reminder.digest") == [f"digest:{learn_id}:2026-12-10",
                                            f"digest:{learn_id}:2026-12-11"]
    runs = dict(s.execute(sa.select(SchedulerRun.slot, SchedulerRun.status)
                          .where(SchedulerRun.job == "morning")).all())
    s.rollback()
    assert runs == {"2026-12-10": "done", "2026-12-11": "done"}

    # a worker delivers on the 11th: one visit reminder per volunteer, two digests
    burst(app, at=bkk(11, 11, 30))
    for user_id, (_, reference) in zip(volunteer_ids, case_keys, strict=True):
        reminded = [t for t in texts(emulator.sent(user_id)) if REMINDER in t]
        assert len(reminded) == 1 and reference in reminded[0], reminded
    digests = [t for t in texts(emulator.sent(officer_user)) if DIGEST in t]
    assert len(digests) == 2


def test_two_workers_ticking_through_eight_send_each_reminder_exactly_once(app, s, emulator):
    """Two real `worker` processes whose clocks cross 08:00 on 10 Dec together: both tick
    the scheduler and both send; the morning runs once and every reminder reaches LINE once."""
    volunteers = [f.line_user(s) for _ in range(8)]
    officer_line = f.line_user(s, role="officer")
    learn = f.officer(s, agency="LEARN", area="4007", line=officer_line)
    cases = helped_cases(app, s, volunteers, bkk(10, 7), learn)
    references = {v.line_user_id: c.reference for v, c in zip(volunteers, cases, strict=True)}
    officer_user = officer_line.line_user_id
    s.close()
    env = flask_env(app, QUIET_HOURS="", DASHBOARD_REFRESH_SECONDS="0",
                    SCHEDULER_INTERVAL="0.1",
                    SAMOE_TEST_NOW=(bkk(10, 8) - dt.timedelta(seconds=3)).isoformat())
    workers = [flask_command(["worker"], env, app_module=CLOCK_APP) for _ in range(2)]
    try:
        def delivered() -> bool:
            sent = texts(emulator.sent())
            return (sum(REMINDER in t for t in sent) >= len(volunteers)
                    and any(DIGEST in t for t in sent))

        wait_until(delivered, timeout=90, interval=0.2)
        time.sleep(1.0)  # room for a second copy, were there one
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        errors = [proc.communicate(timeout=60)[1] for proc in workers]
    assert all(proc.returncode == 0 for proc in workers), errors
    pushes = Counter()
    for item in emulator.sent(endpoint="push"):
        for message in item["messages"]:
            if REMINDER in message.get("text", "") or DIGEST in message.get("text", ""):
                pushes[(item["to"][0] if isinstance(item["to"], list) else item["to"],
                        message["text"])] += 1
    assert all(count == 1 for count in pushes.values()), pushes
    for user_id, reference in references.items():
        mine = [t for t in texts(emulator.sent(user_id)) if REMINDER in t]
        assert len(mine) == 1 and reference in mine[0], mine
    assert len([t for t in texts(emulator.sent(officer_user)) if DIGEST in t]) == 1
    assert len(queued(s, "reminder.visit")) == len(volunteers)
    runs = s.execute(sa.select(SchedulerRun.status, SchedulerRun.owner)
                     .where(SchedulerRun.job == "morning")).all()
    s.rollback()
    assert [status for status, _owner in runs] == ["done"]


def test_quiet_hours_hold_the_morning_jobs_reminders_not_replies_updates_or_fallbacks(
        app, s, emulator):
    """QUIET_HOURS around this very moment. The real morning job (yesterday's 08:00, run
    now) queues two visit reminders and a digest; a worker during quiet hours answers a
    volunteer (a reply), a user whose event is a minute old (a push instead of the stale
    token) and tells a parent of a service — and holds the reminders to the end of quiet
    hours. One case is visited meanwhile; a worker whose clock is at the end then sends the
    other reminder and the digest, once, and drops the visited one."""
    local_now = utcnow().astimezone(BANGKOK)
    start, end = local_now - dt.timedelta(hours=1), local_now + dt.timedelta(hours=1)
    quiet = f"{start:%H:%M}-{end:%H:%M}"
    yesterday = local_now.date() - dt.timedelta(days=1)
    morning = dt.datetime.combine(yesterday, dt.time(8), tzinfo=BANGKOK)
    first, second, talker = f.line_user(s), f.line_user(s), f.line_user(s)
    parent = f.line_user(s, role="parent")
    learn = f.officer(s, agency="LEARN", area="4007", line=f.line_user(s, role="officer"))
    waiting, visited = helped_cases(app, s, [first, second], morning - dt.timedelta(hours=1),
                                    learn)
    s.add(CaseGuardian(case_id=waiting.id, line_user_id=parent.id))
    s.commit()
    users = {"first": first.line_user_id, "second": second.line_user_id,
             "talker": talker.line_user_id, "parent": parent.line_user_id,
             "officer": s.get(LineUser, learn.line_user_id).line_user_id}
    waiting_id, visited_id, waiting_ref = waiting.id, visited.id, waiting.reference
    s.close()

    [report] = scheduler(app, morning.isoformat(), quiet=quiet)
    assert report["status"] == "ran", report
    assert (report["result"]["visit_reminders"], report["result"]["digests"]) == (2, 1)

    # during quiet hours: a reply, a push fallback and a parent's update all go at once
    emulator.text(users["first"], "เมนู")
    emulator.text(users["talker"], "เมนู", age_seconds=55)  # its token too old to reply with
    with_parent = s.get(Case, waiting_id)
    workflow.record_service(s, f.actor(learn), with_parent, "learn_enrolment")
    s.commit()
    s.close()
    burst(app, quiet=quiet)
    # the volunteer: the menu as a reply (the case's updates went as pushes)
    assert Counter(i["endpoint"] for i in emulator.sent(users["first"]))["reply"] == 1
    assert [i["endpoint"] for i in emulator.sent(users["talker"])] == ["push"]
    assert [i["endpoint"] for i in emulator.sent(users["parent"])] == ["push"]
    assert not [t for t in texts(emulator.sent()) if REMINDER in t or DIGEST in t]
    held = s.scalars(sa.select(OutboxMessage).where(OutboxMessage.quiet.is_(True))).all()
    s.rollback()
    until = QuietHours.parse(quiet).end_after(utcnow()).astimezone(dt.UTC)
    assert len(held) == 3
    assert {(r.status, r.next_attempt_at) for r in held} == {("pending", until)}

    # visited before quiet hours end: no reminder for that child
    workflow.record_visit(s, f.actor(learn), s.get(Case, visited_id), "found")
    s.commit()
    s.close()
    burst(app, at=until + dt.timedelta(minutes=1), quiet=quiet)
    reminded = [t for t in texts(emulator.sent(users["first"])) if REMINDER in t]
    assert len(reminded) == 1 and waiting_ref in reminded[0]
    assert [t for t in texts(emulator.sent(users["second"])) if REMINDER in t] == []
    assert len([t for t in texts(emulator.sent(users["officer"])) if DIGEST in t]) == 1
    statuses = dict(s.execute(sa.select(OutboxMessage.dedupe_key, OutboxMessage.status)
                              .where(OutboxMessage.kind == "reminder.visit")).all())
    s.rollback()
    assert statuses == {f"visit:{waiting_id}:{yesterday}": "sent",
                        f"visit:{visited_id}:{yesterday}": "skipped"}


def test_escalation_steps_go_on_the_timeline_once_however_often_the_job_runs(app, s):
    learn = f.officer(s, agency="LEARN", area="4007")
    [case] = helped_cases(app, s, [f.line_user(s)], bkk(1, 7), learn)  # due 1 Dec, 07:00
    case_id = case.id
    s.close()

    def steps() -> list[str]:
        found = [e.detail["level"] for e in s.scalars(
            sa.select(TimelineEntry).where(TimelineEntry.case_id == case_id,
                                           TimelineEntry.kind == "escalated")
            .order_by(TimelineEntry.id))]
        s.rollback()
        return found

    day8 = scheduler(app, "2026-12-09T08:00+07:00", processes=2)  # 8 days late, twice at once
    assert sorted(r["status"] for r in day8) in (["done", "ran"], ["ran", "running"])
    assert next(r for r in day8 if r["status"] == "ran")["result"]["escalated"] == {
        "district": 1, "province": 0}
    assert steps() == ["district"]
    [day22] = scheduler(app, "2026-12-23T08:00+07:00")  # 22 days late
    assert day22["result"]["escalated"] == {"district": 0, "province": 1}
    [day23] = scheduler(app, "2026-12-24T08:00+07:00")  # the job again, a day on: nothing new
    assert day23["result"]["escalated"] == {"district": 0, "province": 0}
    assert steps() == ["district", "province"]


def test_bad_at_times_are_refused_before_anything_runs(app, s):
    """Exit status 2 and the reason on stderr, nothing run: an empty --at (it used to run at
    the real time, the 03:00 retention purge included), one out of range (it used to crash
    with OverflowError), and one two days ahead of the clock without --allow-future (it
    would mark that day done and purge by a clock not yet true)."""
    in_two_days = (utcnow() + dt.timedelta(days=2)).astimezone(BANGKOK).isoformat()
    cases = {"": "--at is empty", "9999-12-31T08:00+07:00": "out of range",
             in_two_days: "ahead of this machine's clock"}
    env = flask_env(app)
    procs = {at: flask_command(["scheduler", "--once", "--at", at], env) for at in cases}
    for at, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, (at, out, err)
        assert cases[at] in err and "Traceback" not in err, err
        assert out == ""
    assert "--allow-future" in err
    assert s.scalar(sa.select(sa.func.count()).select_from(SchedulerRun)) == 0
    assert s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
