"""Samoe's composition root: `create_app` binds the extensions, mounts the emulator, and
registers the handlers, flows and commands."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import sys
import threading
from pathlib import Path

from dotenv import load_dotenv
from flask import Flask
from linebot.v3.webhook import SignatureValidator

from bot.config import finish_settings, load_settings
from bot.conversation import Engine
from bot.dispatch import Dispatcher
from bot.extensions import (
    babel,
    db,
    migrate,
    postgresql_settings,
    sqlite_connections,
    sqlite_pragmas,
)
from bot.i18n import select_locale
from models import crypto

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_ACCESS_TOKEN = "emulator-access-token"


def instance_secret(app: Flask, name: str) -> str:
    """A development secret kept in instance/, so every process of this install shares it."""
    path = Path(app.instance_path) / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(16))
    return path.read_text().strip()


def configure_logging(app: Flask) -> None:
    """Logs go to stderr (stdout is kept for the values commands make), redacted of personal
    data (bot.logs), as JSON lines with LOG_FORMAT=json."""
    from bot import logs

    level = logging.DEBUG if app.debug else logging.INFO
    root = logging.getLogger()
    if not any(getattr(h, "_samoe", False) for h in root.handlers):
        root.addHandler(logs.handler(sys.stderr, app.config.get("LOG_FORMAT", "text")))
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the Samoe application (settings are read here, never at import)."""
    load_dotenv(ROOT / ".env", override=False)
    app = Flask(__name__, instance_path=str(ROOT / "instance"))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(load_settings(app.instance_path))
    if test_config:
        app.config.update(test_config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = instance_secret(app, "dev-secret-key")
    if not app.config.get("DATA_ENCRYPTION_KEYS"):  # development: one key kept in instance/
        seed = instance_secret(app, "dev-data-key")
        app.config["DATA_ENCRYPTION_KEYS"] = base64.urlsafe_b64encode(
            hashlib.sha256(seed.encode()).digest()).decode()
    crypto.configure(crypto.parse_keys(app.config["DATA_ENCRYPTION_KEYS"]))
    configure_logging(app)
    finish_settings(app.config)  # ID_HASH_KEY and AUDIT_CHAIN_KEY, from SECRET_KEY if unset
    from services import audit

    audit.configure(app.config["AUDIT_CHAIN_KEY"])

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        sqlite_connections(app.config, app.instance_path)
    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            sqlite_pragmas(db.engine)
    elif app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        with app.app_context():
            postgresql_settings(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    babel.init_app(app, locale_selector=select_locale)

    if app.config["LINE_EMULATOR"]:
        if not app.config["LINE_CHANNEL_SECRET"]:
            app.config["LINE_CHANNEL_SECRET"] = instance_secret(app, "dev-channel-secret")
        if not app.config["LINE_CHANNEL_ACCESS_TOKEN"]:
            app.config["LINE_CHANNEL_ACCESS_TOKEN"] = EMULATOR_ACCESS_TOKEN
        mount_emulator(app)
    elif not app.config["LINE_CHANNEL_SECRET"]:
        # outside production (which refuses to start without it): a webhook that can verify
        # nothing but its own test requests, said loudly, instead of a crash at start-up
        app.logger.warning("LINE_CHANNEL_SECRET is not set: LINE's webhook requests will be "
                           "refused (set it, or LINE_EMULATOR=1 for local use)")
        app.config["LINE_CHANNEL_SECRET"] = instance_secret(app, "dev-channel-secret")
    app.extensions["samoe.signature"] = SignatureValidator(app.config["LINE_CHANNEL_SECRET"])

    dispatcher = Dispatcher()
    engine = Engine()
    app.extensions["samoe.dispatcher"] = dispatcher
    app.extensions["samoe.engine"] = engine
    register_handlers(app, dispatcher, engine)

    from bot import cli, richmenu

    richmenu.init_app(app)
    cli.register(app)
    if app.config["WORKER_IN_PROCESS"]:
        start_worker_on_first_request(app)
    from handlers.webhook import WebhookFastPath

    # outermost: LINE's webhook requests skip Flask's request machinery (handlers/webhook.py)
    app.wsgi_app = WebhookFastPath(app, app.wsgi_app)
    return app


def mount_emulator(app: Flask) -> None:
    """Serve the LINE emulator at /emulator inside this app (development, demos, tests)."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    from emulator import create_emulator_app

    emulator_app = create_emulator_app(
        {
            "database_url": app.config.get("EMULATOR_DATABASE_URL")
            or emulator_database_url(app.config["SQLALCHEMY_DATABASE_URI"]),
            "channel_secret": app.config["LINE_CHANNEL_SECRET"],
            "channel_access_token": app.config["LINE_CHANNEL_ACCESS_TOKEN"],
            "webhook_url": app.config.get("EMULATOR_WEBHOOK_URL"),
        }
    )
    app.extensions["samoe.emulator"] = emulator_app
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/emulator": emulator_app})


def emulator_database_url(app_url: str) -> str:
    """Where the mounted emulator keeps its state: the app's PostgreSQL database (its own
    `emu_` tables), or a SQLite file beside the app's, so the two never wait on one lock."""
    if not app_url.startswith("sqlite"):
        return app_url
    if app_url in ("sqlite://", "sqlite:///:memory:"):
        return "sqlite://"
    path = Path(app_url.split("sqlite:///", 1)[1])
    return "sqlite:///" + str(path.with_name(path.stem + "-emulator" + path.suffix))


def register_handlers(app: Flask, dispatcher: Dispatcher, engine: Engine) -> None:
    """The one upward import: the composition root registers the inbound adapters."""
    from handlers import (
        announcements,
        api,
        console,
        events,
        flows,
        notifications,
        ops,
        public,
        reminders,
        webhook,
    )

    app.register_blueprint(webhook.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(public.bp)
    api.init_app(app)
    console.init_app(app)
    notifications.register()
    reminders.register()
    announcements.register()
    flows.register(engine)
    events.register(dispatcher, engine)


def start_worker_on_first_request(app: Flask) -> None:
    """Start the in-process worker when the app first serves HTTP (never in CLI commands)."""
    lock = threading.Lock()

    @app.before_request
    def _start_worker():
        if "samoe.worker" in app.extensions:
            return
        with lock:
            if "samoe.worker" not in app.extensions:
                from bot.worker import start_in_process

                start_in_process(app)
