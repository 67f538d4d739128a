"""Commands: `worker`, `scheduler`, `dashboard refresh`, `set-deadlines`, `seed-demo`, `translate`,
`backup` and `restore`, accounts and codes. Logs go to stderr; the last line of stdout is only the
value a command made."""

from __future__ import annotations

import logging
import signal
import threading

import click
from flask import Flask, current_app

from bot.extensions import db
from bot.i18n import compile_catalogs

log = logging.getLogger(__name__)


def register(app: Flask) -> None:
    """Add Samoe's commands to the app's CLI."""
    app.cli.add_command(worker_command)
    app.cli.add_command(scheduler_command)
    app.cli.add_command(dashboard_group)
    app.cli.add_command(set_deadlines_command)
    app.cli.add_command(audit_group)
    app.cli.add_command(purge_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(rotate_key_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(translate_group)
    app.cli.add_command(create_invite_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(create_token_command)
    app.cli.add_command(revoke_token_command)
    app.cli.add_command(create_link_code_command)
    app.cli.add_command(richmenu_group)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Handle everything due now, then exit.")
def worker_command(burst: bool) -> None:
    """Run the inbox handlers and the outbox sender."""
    from bot.worker import Worker

    worker = Worker(current_app._get_current_object(), current_app.extensions["samoe.dispatcher"])
    if burst:
        done = worker.burst()
        log.info("burst finished: %d item(s) handled or sent", done)
        click.echo(done)
        return
    stop = threading.Event()

    def _stop(signum, _frame):
        log.info("signal %s: stopping after this round", signum)
        stop.set()
        worker.wakeup.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run(stop)


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run the jobs due now (or at --at), then exit.")
@click.option("--at", "at", help="With --once: the time to run at, ISO (e.g. "
              "2026-12-01T08:00+07:00; without an offset, Khon Kaen's time). At most a few "
              "minutes ahead of this machine's clock, unless --allow-future.")
@click.option("--allow-future", is_flag=True, help="With --at: accept a time ahead of this "
              "machine's clock. For tests and drills only: that day's slots are marked done, "
              "the reminders recorded as sent that day, and the retention purge runs by that "
              "clock.")
def scheduler_command(once: bool, at: str | None, allow_future: bool) -> None:
    """Run the scheduled jobs (the 08:00 reminders): with --once, those due now, then exit;
    without it, in a loop (a worker runs them too)."""
    import json
    import time

    from bot.scheduler import Scheduler, parse_at, too_far_ahead
    from bot.worker import worker_name
    from models import utcnow

    if at is not None and not once:
        raise click.UsageError("--at goes with --once")
    if allow_future and at is None:
        raise click.UsageError("--allow-future goes with --at")
    moment = None
    if at is not None:  # an empty --at is a mistake, not "now"
        try:
            moment = parse_at(at)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--at") from None
        ahead = too_far_ahead(moment, utcnow())
        if ahead is not None and not allow_future:
            raise click.BadParameter(
                f"{at!r} is {_duration(ahead)} ahead of this machine's clock: running its jobs "
                "now would mark that day done and purge data by a clock that is not yet true. "
                "Give a time up to now, or add --allow-future (for tests and drills only).",
                param_hint="--at")
    scheduler = Scheduler(current_app._get_current_object(), worker_name())
    if once:
        reports = scheduler.run_due(moment or utcnow())
        for report in reports:
            log.info("job %s %s: %s", report["job"], report["slot"], report["status"])
        click.echo(json.dumps(reports, ensure_ascii=False))
        return
    while True:
        scheduler.refresh_dashboard()
        scheduler.run_due(utcnow())
        time.sleep(max(scheduler.interval, 1.0))


def _duration(delta) -> str:
    """`3 days 4 h` / `2 h 5 min` / `7 min`: how far ahead, for a message."""
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


@click.group("dashboard")
def dashboard_group() -> None:
    """The supervisors' dashboard figures stored per area."""


@dashboard_group.command("refresh")
@click.option("--area", "areas", multiple=True,
              help="Only this area (a province, district or subdistrict code); repeatable.")
@click.option("--older-than", type=float, default=0.0, show_default=True,
              help="Only the figures computed more than this many seconds ago.")
def dashboard_refresh_command(areas: tuple[str, ...], older_than: float) -> None:
    """Compute the dashboard's figures of every province and district (and of each
    supervisor's area) now and store them; an area another process is computing is skipped.
    The worker does it every DASHBOARD_REFRESH_SECONDS."""
    import datetime as dt
    import json

    from bot.worker import worker_name
    from services import dashboard

    owner = worker_name()
    if areas:
        report = {"refreshed": [], "skipped": []}
        for code in areas:
            done = dashboard.refresh(db.session, code, owner)
            report["refreshed" if done is not None else "skipped"].append(code)
    else:
        report = dashboard.refresh_due(db.session, owner, dt.timedelta(seconds=older_than))
    log.info("dashboard figures: %s", report)
    click.echo(json.dumps(report))


@click.command("rotate-key")
@click.option("--batch", type=click.IntRange(1, 10_000), default=200, show_default=True,
              help="Values read and rewritten per transaction.")
def rotate_key_command(batch: int) -> None:
    """Re-encrypt identity numbers, phone numbers and photos under the newest key of
    DATA_ENCRYPTION_KEYS (while the service runs)."""
    import json

    from services import encryption

    report = encryption.rotate(db.session, batch=batch)
    db.session.rollback()  # nothing left open (on SQLite a read holds the write lock)
    log.info("re-encrypted under the newest key: %s", report)
    click.echo(json.dumps(report))


@click.command("purge")
@click.option("--at", "at", help="Purge as of this ISO time (default: now).")
def purge_command(at: str | None) -> None:
    """Apply the retention rules now (the scheduler does it daily at 03:00): webhook payloads,
    the outbox, photos of long-closed cases, personal fields of cases closed for years."""
    import json

    from bot.scheduler import parse_at
    from services import retention

    try:
        moment = parse_at(at) if at else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    report = retention.purge(db.session, moment,
                             retention.Periods.from_config(current_app.config))
    db.session.commit()
    log.info("retention: %s", report)
    click.echo(json.dumps(report))


def _backup_step(run) -> None:
    """Run a backup or restore; one JSON line either way, exit status 1 on failure."""
    import json

    from services.backup import BackupError

    try:
        report = run()
    except BackupError as exc:
        log.error("%s", exc.message)
        click.echo(json.dumps({"error": exc.code, "message": exc.message}))
        raise SystemExit(1) from None
    log.info("%s", report)
    click.echo(json.dumps(report))


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
def backup_command(path: str) -> None:
    """Back up the database to PATH while the service runs (SQLite: the online backup API;
    PostgreSQL: pg_dump -Fc). DATA_ENCRYPTION_KEYS are not in it: keep them apart."""
    from services import backup

    _backup_step(lambda: backup.backup(current_app.config["SQLALCHEMY_DATABASE_URI"], path))


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace a database that is not empty.")
def restore_command(path: str, force: bool) -> None:
    """Restore the backup at PATH into this (empty) database; stop the service first."""
    from services import backup

    db.engine.dispose()  # no connection of ours stays open on the target
    _backup_step(lambda: backup.restore(current_app.config["SQLALCHEMY_DATABASE_URI"], path,
                                        force=force))


@click.group("audit")
def audit_group() -> None:
    """The audit log's keyed chain: seal new rows, verify the whole chain, find searches."""


@audit_group.command("seal")
def audit_seal_command() -> None:
    """Chain every unsealed audit row now (the worker does it every few seconds)."""
    from services import audit

    total = 0
    while True:
        try:
            sealed = audit.seal(db.session)
        except audit.ChainError as exc:
            log.error("%s", exc)
            click.echo(total)
            raise SystemExit(1) from None
        total += sealed
        if sealed == 0:
            break
    log.info("%d audit row(s) sealed", total)
    click.echo(total)


@audit_group.command("verify")
def audit_verify_command() -> None:
    """Check the chain: exit status 1 and the problems found if any row was changed, removed
    or slipped in, or the chain's head was changed or removed."""
    import json

    from services import audit

    report = audit.verify(db.session)
    db.session.rollback()
    head = report.head or {}
    if report.ok:
        log.info("audit log intact: %d sealed row(s), %d not sealed yet; head seal_seq=%s "
                 "row_hash=%s, chain started %s", report.checked, report.unsealed,
                 head.get("seal_seq"), head.get("row_hash"), head.get("started_at"))
    else:
        log.error("audit log tampered with: %d problem(s), the first: %s",
                  len(report.problems), report.problems[0])
    click.echo(json.dumps(report.as_dict()))
    if not report.ok:
        raise SystemExit(1)


@audit_group.command("searched")
@click.argument("text", required=False)
def audit_searched_command(text: str | None) -> None:
    """Which queue lists and exports searched for TEXT (a child's name): the audit log keeps
    only a keyed hash of each search, compared here. Without TEXT it is asked for (so the
    name stays out of the shell's history)."""
    import json

    from services import audit

    if not text:
        text = click.prompt("Text searched", hide_input=True, err=True)
    rows = audit.searched(db.session, text)
    db.session.rollback()
    found = [{"id": r.id, "at": r.at.isoformat(), "actor": r.actor, "action": r.action,
              "ip": r.ip} for r in rows]
    log.info("%d audit row(s) record a search for that text", len(found))
    click.echo(json.dumps(found))


@click.command("set-deadlines")
@click.argument("agency")
@click.option("--verify", type=str, help="Days to check a report (or 'default').")
@click.option("--referral", type=str, help="Days to answer a referral (or 'default').")
@click.option("--first-action", type=str, help="Days to act after accepting (or 'default').")
@click.option("--visit", type=str, help="Days between home visits (or 'default').")
def set_deadlines_command(agency: str, verify, referral, first_action, visit) -> None:
    """Set an agency's own deadlines in days ('default' goes back to the province's); the
    open cases they concern get their new deadline at once."""
    import json

    from services import deadlines
    from services.access import Actor
    from services.workflow import WorkflowError

    changes = {}
    for name, value in (("verify", verify), ("referral", referral),
                        ("first_action", first_action), ("visit", visit)):
        if value is None:
            continue
        if value.strip().lower() == "default":
            changes[name] = None
            continue
        try:
            changes[name] = int(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a number of days",
                                     param_hint=f"--{name.replace('_', '-')}") from None
    actor = Actor(kind="officer", name="cli", role="admin", via="cli")
    try:
        result, changed = deadlines.set_deadlines(db.session, actor, agency.upper(), changes)
    except (deadlines.DeadlineError, WorkflowError) as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    log.info("deadlines of %s set; %d open case(s) got a new deadline", agency, changed)
    click.echo(json.dumps({**result.as_dict(), "cases_changed": changed}))


@click.command("seed-demo")
def seed_demo_command() -> None:
    """Create the demo data: LINE users (a volunteer, a parent, an officer), the officer's
    console account (linked to his LINE user; its password kept in instance/demo-officer-
    password), and a few cases in his district. Refused with SAMOE_ENV=production. The number
    of new LINE users is the last line of stdout."""
    from bot import instance_secret
    from services import demo

    if current_app.config.get("SAMOE_ENV") == "production":
        raise click.ClickException("seed-demo makes demo accounts: not with SAMOE_ENV=production")
    created = demo.seed(db.session)
    account = demo.seed_console(db.session, instance_secret(current_app, DEMO_PASSWORD_FILE))
    username = account.username if account else None
    new_cases = demo.seed_cases(db.session, current_app.config["SECRET_KEY"])
    db.session.commit()
    emulator = current_app.extensions.get("samoe.emulator")
    if emulator is not None:  # the chat page lists the emulator's users
        from emulator.state import EXTENSION_KEY

        store = emulator.extensions[EXTENSION_KEY].store
        for user in demo.emulator_users(db.session):
            store.save_user(user["userId"], display_name=user["displayName"],
                            language=user["language"])
    log.info("demo data: %d new LINE user(s), %d new case(s); console account %s (password in "
             "instance/%s)", created, new_cases, username or "not made", DEMO_PASSWORD_FILE)
    click.echo(created)


#: Where seed-demo keeps the demo officer's console password (made once per install).
DEMO_PASSWORD_FILE = "demo-officer-password"


@click.command("create-invite")
@click.option("--role", type=click.Choice(["volunteer", "officer"]), required=True)
@click.option("--subdistrict", help="Subdistrict code, for a volunteer (e.g. 400701).")
@click.option("--agency", help="Agency code, for an officer (e.g. LEARN).")
@click.option("--area", help="Area code of the officer's scope (province, district or "
              "subdistrict).")
@click.option("--days", default=14, show_default=True, help="Days the code stays valid.")
@click.option("--username", help="For an officer: the console account to link the LINE user "
              "to (its agency and area are used).")
def create_invite_command(role, subdistrict, agency, area, days, username) -> None:
    """Issue a single-use 6-digit invitation code; the code is the last line of stdout."""
    import datetime as dt

    from services import accounts, invitations

    officer_id = None
    if username:
        if role != "officer":
            raise click.UsageError("--username is for officer invitations")
        officer = accounts.find_officer(db.session, username)
        if officer is None:
            raise click.UsageError(f"no account {username!r}")
        officer_id, agency, area = officer.id, officer.agency_code, officer.area_code
    try:
        code, invitation = invitations.issue(
            db.session, current_app.config["SECRET_KEY"], role, subdistrict=subdistrict,
            agency=agency, area=area, valid_for=dt.timedelta(days=days), officer_id=officer_id)
    except invitations.InvitationError as exc:
        raise click.UsageError(str(exc)) from exc
    db.session.commit()
    log.info("invitation %s for a %s, valid until %s", invitation.id, role,
             invitation.expires_at.isoformat())
    click.echo(code)


@click.command("create-user")
@click.option("--username", required=True)
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--role", type=click.Choice(["officer", "supervisor", "admin"]), required=True)
@click.option("--agency", required=True, help="Agency code (EDU, OBEC, HEALTH, PHC, SOCIAL, "
              "LOCAL, LEARN, KKU, EEF).")
@click.option("--area", required=True, help="Area scope: a province, district or "
              "subdistrict code (40, 4007, 400701).")
@click.option("--name", "full_name", help="The officer's full name.")
def create_user_command(username, password, role, agency, area, full_name) -> None:
    """Create an officer account; its id is the last line of stdout."""
    from services import accounts

    try:
        officer = accounts.create_officer(db.session, username, password, role, agency, area,
                                          full_name=full_name)
    except accounts.AccountError as exc:
        raise click.UsageError(str(exc)) from exc
    db.session.commit()
    log.info("account %s: %s of %s for area %s", officer.username, role, agency, area)
    click.echo(officer.id)


@click.command("create-token")
@click.argument("username")
@click.option("--days", default=90, show_default=True, help="Days the token stays valid.")
@click.option("--name", help="What the token is for (shown in lists).")
def create_token_command(username, days, name) -> None:
    """Create an API bearer token for an account; the token is the last line of stdout
    (shown once: only its hash is kept)."""
    import datetime as dt

    from services import accounts

    officer = accounts.find_officer(db.session, username)
    if officer is None:
        raise click.UsageError(f"no account {username!r}")
    try:
        token, row = accounts.create_token(db.session, officer, name=name,
                                           valid_for=dt.timedelta(days=days))
    except accounts.AccountError as exc:
        raise click.UsageError(str(exc)) from exc
    db.session.commit()
    log.info("token %s (%s...) for %s, valid until %s", row.id, row.prefix, officer.username,
             row.expires_at.isoformat())
    click.echo(token)


@click.command("revoke-token")
@click.argument("token_id", type=int)
def revoke_token_command(token_id) -> None:
    """Revoke an API token by its id (from create-token's log)."""
    from services import accounts

    if not accounts.revoke_token(db.session, token_id):
        raise click.UsageError(f"no active token {token_id}")
    db.session.commit()
    log.info("token %s revoked", token_id)
    click.echo(token_id)


@click.command("create-link-code")
@click.argument("reference")
def create_link_code_command(reference) -> None:
    """Issue a parent link code for a case (6 digits, single use, 7 days); the code is the
    last line of stdout."""
    import sqlalchemy as sa

    from bot.thai_text import parse_reference
    from models import Case
    from services import cases

    ref = parse_reference(reference)
    case = db.session.scalar(sa.select(Case).where(Case.reference == ref)) if ref else None
    if case is None:
        raise click.UsageError(f"no case {reference!r}")
    code = cases.issue_link_code(db.session, current_app.config["SECRET_KEY"], case, "cli")
    db.session.commit()
    log.info("link code for %s, valid for 7 days", case.reference)
    click.echo(code)


@click.group("translate")
def translate_group() -> None:
    """Message catalogs in locales/."""


@translate_group.command("compile")
def translate_compile() -> None:
    """Compile locales/*/LC_MESSAGES/messages.po to .mo files."""
    written = compile_catalogs()
    for path in written:
        log.info("compiled %s", path)
    click.echo(len(written))


@click.group("richmenu")
def richmenu_group() -> None:
    """LINE rich menus (one per role and language, defined in bot/richmenu.py)."""


@richmenu_group.command("sync")
@click.option("--link-all", is_flag=True,
              help="Then link every registered user's menu (after a first sync).")
def richmenu_sync(link_all: bool) -> None:
    """Create, update and delete the rich menus on LINE so they match the code; idempotent.
    The number of changes made is the last line of stdout (0: nothing to do)."""
    from bot import richmenu
    from bot.worker import make_client

    client = make_client(current_app)
    try:
        report = richmenu.sync(client, db.session)
        log.info("rich menus: %d created, %d deleted, %d alias change(s), default %s, "
                 "%d menu(s) of users moved", len(report.created), len(report.deleted),
                 len(report.aliases), "set" if report.default else "unchanged", report.relinked)
        if link_all:
            log.info("rich menus linked to %d user(s)", richmenu.link_all(client, db.session))
    finally:
        client.close()
    click.echo(report.changes)


@richmenu_group.command("images")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--language", type=click.Choice(["th", "en"]), default="th", show_default=True)
def richmenu_images(folder: str, language: str) -> None:
    """Write each role's menu picture to FOLDER/richmenu-<role>.png (the README's pictures)."""
    from pathlib import Path

    from bot import richmenu

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for role in richmenu.ROLES:
        menu = richmenu.build(role, language)
        suffix = "" if language == "th" else f"-{language}"
        path = out / f"richmenu-{role}{suffix}.png"
        path.write_bytes(menu.image)
        log.info("%s: %d bytes", path, len(menu.image))
    click.echo(len(richmenu.ROLES))
