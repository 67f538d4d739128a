"""Commands: `worker`, `seed-demo`, `translate`. Logs go to stderr; the last line of stdout is
only the value a command made."""

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
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(translate_group)
    app.cli.add_command(create_invite_command)


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


@click.command("seed-demo")
def seed_demo_command() -> None:
    """Create demo LINE users (a volunteer, a parent, an officer) for the emulator's chat page."""
    from services import demo

    created = demo.seed(db.session)
    db.session.commit()
    emulator = current_app.extensions.get("samoe.emulator")
    if emulator is not None:  # the chat page lists the emulator's users
        from emulator.state import EXTENSION_KEY

        store = emulator.extensions[EXTENSION_KEY].store
        for user in demo.emulator_users(db.session):
            store.save_user(user["userId"], display_name=user["displayName"],
                            language=user["language"])
    log.info("demo data: %d new LINE user(s)", created)
    click.echo(created)


@click.command("create-invite")
@click.option("--role", type=click.Choice(["volunteer", "officer"]), required=True)
@click.option("--subdistrict", help="Subdistrict code, for a volunteer (e.g. 400701).")
@click.option("--agency", help="Agency code, for an officer (e.g. LEARN).")
@click.option("--area", help="Area code of the officer's scope (province, district or "
              "subdistrict).")
@click.option("--days", default=14, show_default=True, help="Days the code stays valid.")
def create_invite_command(role, subdistrict, agency, area, days) -> None:
    """Issue a single-use 6-digit invitation code; the code is the last line of stdout."""
    import datetime as dt

    from services import invitations

    try:
        code, invitation = invitations.issue(
            db.session, current_app.config["SECRET_KEY"], role, subdistrict=subdistrict,
            agency=agency, area=area, valid_for=dt.timedelta(days=days))
    except invitations.InvitationError as exc:
        raise click.UsageError(str(exc)) from exc
    db.session.commit()
    log.info("invitation %s for a %s, valid until %s", invitation.id, role,
             invitation.expires_at.isoformat())
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
