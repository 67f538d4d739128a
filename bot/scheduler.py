"""The scheduler: the jobs that run at a time of day (DESIGN.md §7), in the worker or alone.

A job runs once per slot (a day, for the 08:00 job). Several workers tick at the same time:
the first to insert the slot's `scheduler_runs` row runs it; the others see it running or done.
The running worker renews its 15-minute lease every 5 minutes, however long the job takes; a
worker that dies mid-run leaves a lease that expires, and the slot is run again by the next
tick (the jobs are idempotent: every message they queue has a unique key). A worker that was
down at 08:00 runs the morning's job when it comes back, the same day, until quiet hours begin
(or midnight when QUIET_HOURS is off); after that the day is recorded as missed and the next
morning's run covers it (so a volunteer never gets yesterday's reminder an hour before
today's).

`flask --app wsgi scheduler --once --at 2026-12-01T08:00+07:00` runs the jobs due at that time
and exits, so tests across processes control the clock without patching it. A time more than
a few minutes ahead of the real clock is refused unless `--allow-future` is given (for tests
and drills only: it marks that day's slots done and purges by a clock not yet true); an empty,
unreadable or out-of-range time is refused with a message (exit status 2).

Besides the daily jobs, each tick renews the supervisors' dashboard figures that are older
than DASHBOARD_REFRESH_SECONDS (services.dashboard.refresh_due), in a thread of its own;
`flask dashboard refresh` does it on demand.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time as time_module
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from bot.extensions import db
from bot.quiet_hours import QuietHours, from_config
from models import BANGKOK, SchedulerRun, utcnow
from services import dashboard, reminders, retention

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class Job:
    name: str
    at: dt.time  # local time (Asia/Bangkok) each day
    run: Callable[[Session, dt.datetime], dict]


def _retention(session: Session, now: dt.datetime) -> dict:
    from flask import current_app

    return retention.purge(session, now, retention.Periods.from_config(current_app.config))


JOBS: list[Job] = [Job("morning", dt.time(8, 0), reminders.morning),
                   Job("retention", dt.time(3, 0), _retention)]


#: The years `--at` may name (a typo such as 0001 or 9999 is refused, not overflowed).
AT_YEARS = (2000, 2100)
#: How far ahead of this machine's clock `--at` may be without --allow-future (clock skew).
FUTURE_SLACK = dt.timedelta(minutes=5)


def parse_at(text: str) -> dt.datetime:
    """An ISO time for --at; without an offset it is Khon Kaen's time. ValueError (saying
    what is wrong) when it is empty, unreadable or outside AT_YEARS."""
    example = "an ISO time such as 2026-12-01T08:00+07:00"
    if not text.strip():
        raise ValueError(f"--at is empty: give {example}")
    try:
        moment = dt.datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=BANGKOK)
        moment = moment.astimezone(dt.UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"--at needs {example}, not {text!r}") from exc
    if not AT_YEARS[0] <= moment.year <= AT_YEARS[1]:
        raise ValueError(f"--at {text!r} is out of range: the scheduler runs for the years "
                         f"{AT_YEARS[0]} to {AT_YEARS[1]}")
    return moment


def too_far_ahead(moment: dt.datetime, now: dt.datetime) -> dt.timedelta | None:
    """How far `moment` is ahead of the real clock `now`, when that is more than FUTURE_SLACK
    (None otherwise). Running the jobs of a time to come marks that day's slots done, records
    the volunteers as reminded that day and purges data by a clock that is not yet true."""
    ahead = moment - now
    return ahead if ahead > FUTURE_SLACK else None


def _window_end(job_start: dt.datetime, quiet: QuietHours | None) -> dt.datetime:
    """When a day's run may no longer start: midnight, or quiet hours beginning before it."""
    midnight = dt.datetime.combine(job_start.date() + dt.timedelta(days=1), dt.time(0),
                                   tzinfo=BANGKOK)
    if quiet is None:
        return midnight
    for day in (job_start.date(), job_start.date() + dt.timedelta(days=1)):
        begins = dt.datetime.combine(day, quiet.start, tzinfo=BANGKOK)
        if begins > job_start:
            return min(begins, midnight)
    return midnight


def slot_state(job: Job, now: dt.datetime, quiet: QuietHours | None) -> tuple[str, str]:
    """(slot, state) of a daily job at `now`: state `due`, `not_yet` (before today's time) or
    `missed` (today's window closed)."""
    local = now.astimezone(BANGKOK)
    start = dt.datetime.combine(local.date(), job.at, tzinfo=BANGKOK)
    slot = local.date().isoformat()
    if local < start:
        return slot, "not_yet"
    if local >= _window_end(start, quiet):
        return slot, "missed"
    return slot, "due"


def _insert(session: Session, **values):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(SchedulerRun).values(**values).on_conflict_do_nothing(
        index_elements=["job", "slot"]).returning(SchedulerRun.job)


class Scheduler:
    """Runs the due jobs; `tick` from the worker loop, `run_due(at)` from the CLI."""

    def __init__(self, app: Flask, owner: str, jobs: list[Job] | None = None):
        self.app = app
        self.owner = owner
        self.jobs = jobs if jobs is not None else JOBS
        self.quiet = from_config(app.config)
        self.interval = float(app.config.get("SCHEDULER_INTERVAL", 30))
        self.lease = LEASE  # renewed every third of it while a job runs (_keep_lease)
        self.next_tick = 0.0
        # the supervisors' dashboard figures (services.dashboard), renewed in a thread
        self.dashboard_every = float(app.config.get("DASHBOARD_REFRESH_SECONDS", 300))
        self.dashboard_thread: threading.Thread | None = None

    @property
    def session(self) -> Session:
        return db.session

    def tick(self) -> list[dict]:
        """From the worker loop: run what is due now, at most once per interval."""
        if self.interval <= 0 or time_module.monotonic() < self.next_tick:
            return []
        self.next_tick = time_module.monotonic() + self.interval
        self.refresh_dashboard()
        return self.run_due(utcnow())

    def refresh_dashboard(self) -> threading.Thread | None:
        """Renew the dashboard snapshots older than DASHBOARD_REFRESH_SECONDS, in a thread
        of their own (on a million cases they take seconds: the worker's round does not wait
        for them); nothing when the last refresh is still running. Each area is computed by
        one process at a time (services.dashboard's lease), so several workers share the
        work instead of repeating it."""
        if self.dashboard_every <= 0:
            return None
        if self.dashboard_thread is not None and self.dashboard_thread.is_alive():
            return None
        self.dashboard_thread = threading.Thread(target=self._refresh_dashboard,
                                                 name="samoe-dashboard", daemon=True)
        self.dashboard_thread.start()
        return self.dashboard_thread

    def _refresh_dashboard(self) -> None:
        with self.app.app_context():
            try:
                report = dashboard.refresh_due(db.session, self.owner,
                                               dt.timedelta(seconds=self.dashboard_every))
                if report["refreshed"]:
                    log.info("dashboard figures renewed: %s in %.1f s",
                             ", ".join(report["refreshed"]), report["seconds"])
            except Exception:  # the database may be away: the next tick tries again
                log.exception("dashboard refresh failed")
                db.session.rollback()
            finally:
                db.session.remove()

    def run_due(self, now: dt.datetime) -> list[dict]:
        """Run every job due at `now`; one report per job."""
        return [self._run(job, now) for job in self.jobs]

    def _claim(self, job: Job, slot: str) -> str:
        """`claimed`, or what stops us: `done`, `missed`, `running`."""
        real_now = utcnow()
        lease = real_now + self.lease
        inserted = self.session.execute(_insert(
            self.session, job=job.name, slot=slot, status=SchedulerRun.RUNNING,
            owner=self.owner, lease_expires_at=lease, started_at=real_now)).scalar()
        if inserted is not None:
            self.session.commit()
            return "claimed"
        row = self.session.get(SchedulerRun, (job.name, slot), populate_existing=True)
        if row.status != SchedulerRun.RUNNING:
            self.session.rollback()
            return row.status
        if row.lease_expires_at is not None and row.lease_expires_at > real_now:
            self.session.rollback()
            return "running"
        taken = self.session.execute(
            sa.update(SchedulerRun)
            .where(SchedulerRun.job == job.name, SchedulerRun.slot == slot,
                   SchedulerRun.status == SchedulerRun.RUNNING,
                   SchedulerRun.lease_expires_at == row.lease_expires_at)
            .values(owner=self.owner, lease_expires_at=lease, started_at=real_now)
            .execution_options(synchronize_session=False)).rowcount
        self.session.commit()
        if taken != 1:
            return "running"
        log.warning("job %s %s: taking over from %s, whose lease expired", job.name, slot,
                    row.owner)
        return "claimed"

    def _record_missed(self, job: Job, slot: str) -> None:
        self.session.execute(_insert(self.session, job=job.name, slot=slot,
                                     status=SchedulerRun.MISSED, owner=self.owner,
                                     started_at=utcnow(), finished_at=utcnow()))
        self.session.commit()

    def _run(self, job: Job, now: dt.datetime) -> dict:
        slot, state = slot_state(job, now, self.quiet)
        report = {"job": job.name, "slot": slot, "at": now.isoformat()}
        if state == "not_yet":
            return {**report, "status": "not_yet"}
        if state == "missed":
            self._record_missed(job, slot)
            row = self.session.get(SchedulerRun, (job.name, slot), populate_existing=True)
            status = "missed" if row is None or row.status == SchedulerRun.MISSED else row.status
            self.session.rollback()
            return {**report, "status": status}
        claim = self._claim(job, slot)
        if claim != "claimed":
            return {**report, "status": claim}
        stop = threading.Event()
        keeper = threading.Thread(target=self._keep_lease, args=(job, slot, stop),
                                  name=f"samoe-lease-{job.name}", daemon=True)
        keeper.start()
        try:
            result = job.run(self.session, now)
            self.session.execute(
                sa.update(SchedulerRun)
                .where(SchedulerRun.job == job.name, SchedulerRun.slot == slot,
                       SchedulerRun.owner == self.owner)
                .values(status=SchedulerRun.DONE, finished_at=utcnow(),
                        result=json.dumps(result, ensure_ascii=False))
                .execution_options(synchronize_session=False))
            self.session.commit()
        except Exception:
            log.exception("job %s %s failed; the next tick tries again", job.name, slot)
            self.session.rollback()
            self.session.execute(
                sa.update(SchedulerRun)
                .where(SchedulerRun.job == job.name, SchedulerRun.slot == slot,
                       SchedulerRun.owner == self.owner)
                .values(lease_expires_at=utcnow())
                .execution_options(synchronize_session=False))
            self.session.commit()
            return {**report, "status": "failed"}
        finally:
            stop.set()
            keeper.join(timeout=10)  # a renewal under way ends with the job's commit
        log.info("job %s %s done: %s", job.name, slot, result)
        return {**report, "status": "ran", "result": result}

    def _keep_lease(self, job: Job, slot: str, stop: threading.Event) -> None:
        """While the job runs, renew its slot's lease every third of it, on a connection of
        its own (the job's transaction is still open): a morning that takes longer than the
        lease is not taken over by another worker and run twice at the same time. A renewal
        that fails (the database away, SQLite's write lock held by the job) is tried again at
        the next third."""
        every = self.lease.total_seconds() / 3
        with self.app.app_context():
            engine = db.engine
        while not stop.wait(every):
            try:
                with engine.begin() as connection:
                    connection.execute(
                        sa.update(SchedulerRun)
                        .where(SchedulerRun.job == job.name, SchedulerRun.slot == slot,
                               SchedulerRun.owner == self.owner,
                               SchedulerRun.status == SchedulerRun.RUNNING)
                        .values(lease_expires_at=utcnow() + self.lease))
            except Exception:  # logged; the next third tries again
                log.warning("job %s %s: the lease could not be renewed", job.name, slot,
                            exc_info=True)
