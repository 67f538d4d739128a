"""The scheduler's daily retention job (03:00 Asia/Bangkok) runs the purge, on each database:
`flask --app wsgi scheduler --once --at ...` at 02:59 leaves everything, at 03:00 empties the old
webhook payloads, deletes the old outbox rows and the photos of long-closed cases,
pseudonymises cases closed for years, records the run (once a day) and audits it."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from bot.extensions import db
from models import (
    BANGKOK,
    AuditEntry,
    Case,
    CasePhoto,
    InboxEvent,
    OutboxMessage,
    SchedulerRun,
)
from tests import factories as f
from tests.support import flask_command, flask_env

DAY = dt.timedelta(days=1)
#: Yesterday in Khon Kaen (a day whose 03:00 has passed, so --at needs no --allow-future).
YESTERDAY = (dt.datetime.now(BANGKOK) - DAY).date()
AT = dt.datetime.combine(YESTERDAY, dt.time(3, 0), BANGKOK)



def scheduler_at(app, moment: dt.datetime, own_process: bool = False) -> dict:
    """`flask scheduler --once --at MOMENT` (in a process of its own, or through the CLI
    runner here); the retention job's report."""
    args = ["scheduler", "--once", "--at", moment.isoformat()]
    if own_process:
        proc = flask_command(args, flask_env(app))
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
    else:
        db.session.rollback()  # the test's reads end first (on SQLite they hold the lock)
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code == 0, result.output
        out = result.output
    [job] = [r for r in json.loads(out.strip().splitlines()[-1]) if r["job"] == "retention"]
    return job


def test_the_0300_job_runs_the_purge_once_a_day(app, s):
    for n, days in enumerate((31, 29)):
        s.add(InboxEvent(webhook_event_id=f"01JOB{n:021d}", user_key="U1", event_type="message",
                         occurred_ms=0, payload='{"message":{"text":"hello"}}', status="done",
                         received_at=AT - (days + 1) * DAY, handled_at=AT - days * DAY))
    for days in (91, 89):
        s.add(OutboxMessage(kind="messages", payload="[]", recipient="U1", retry_key="k",
                            status="sent", created_at=AT - days * DAY))
    volunteer = f.line_user(s)
    photo_case = f.report(s, app.config["SECRET_KEY"], volunteer)
    photo_case.photos.append(CasePhoto(content_type="image/png", data=b"\x89PNG" + b"0" * 8,
                                       size=12))
    old_case = f.report(s, app.config["SECRET_KEY"], volunteer)
    s.commit()
    for case, closed in ((photo_case, AT - 400 * DAY), (old_case, AT - 6 * 366 * DAY)):
        s.execute(sa.update(Case).where(Case.id == case.id)
                  .values(stage="closed", closed_at=closed))
    s.commit()
    ids = (photo_case.id, old_case.id)
    s.close()

    early = scheduler_at(app, AT - dt.timedelta(minutes=1))
    assert early["status"] == "not_yet"
    assert s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 2
    s.rollback()

    job = scheduler_at(app, AT, own_process=True)
    assert (job["status"], job["slot"]) == ("ran", YESTERDAY.isoformat())
    assert {k: job["result"][k] for k in ("webhook_payloads", "outbox_rows", "photos",
                                          "cases_pseudonymised")} == {
        "webhook_payloads": 1, "outbox_rows": 1, "photos": 1, "cases_pseudonymised": 1}
    payloads = s.scalars(sa.select(InboxEvent.payload).order_by(InboxEvent.id)).all()
    assert payloads == ["{}", '{"message":{"text":"hello"}}']
    assert s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 1
    assert s.scalar(sa.select(sa.func.count()).select_from(CasePhoto)) == 0
    old = s.get(Case, ids[1])
    assert old.pseudonymised_at is not None and old.child_name == old.reference
    run = s.get(SchedulerRun, ("retention", YESTERDAY.isoformat()))
    assert run.status == "done" and json.loads(run.result)["outbox_rows"] == 1
    audited = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "retention.purge")).all()
    assert len(audited) == 1 and audited[0].actor == "retention"
    s.rollback()

    again = scheduler_at(app, AT + dt.timedelta(hours=2))  # the same day: done already
    assert again["status"] == "done"
    assert s.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "retention.purge")) == 1
