"""Shared fixtures: a real Samoe app on a real port, on SQLite and (when TEST_DATABASE_URL is
set) on PostgreSQL, with the LINE emulator mounted; the schema is built by the migrations.

The suite ignores DATABASE_URL: it makes its own database for each backend and drops it."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from bot import create_app
from bot.config import normalise_database_url
from bot.extensions import db
from bot.i18n import compile_catalogs
from bot.worker import Worker
from models import (
    Agency,
    Announcement,
    AnonymousReport,
    ApiToken,
    Appointment,
    AuditEntry,
    Case,
    CaseCounter,
    CaseGuardian,
    CasePhoto,
    CaseService,
    Consent,
    ConversationState,
    DashboardSnapshot,
    ErasureRequest,
    InboxEvent,
    InboxLease,
    Invitation,
    LineUser,
    LinkCode,
    Officer,
    OutboxMessage,
    PublicSnapshot,
    Referral,
    SchedulerRun,
    ServiceState,
    TimelineEntry,
    Visit,
    crypto,
)
from services import audit
from tests.support import Emulator

CHANNEL_SECRET = "test-channel-secret-0123456789ab"
ACCESS_TOKEN = "test-access-token"
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def pytest_sessionstart(session):
    """Build the .mo catalogs from locales/ (they are built, never committed)."""
    compile_catalogs()


def pytest_report_header(config):
    if "postgresql" not in BACKENDS:
        return "PostgreSQL tests skipped: TEST_DATABASE_URL is not set (SQLite only)"
    return f"backends: {', '.join(BACKENDS)}"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
    """A new, empty database for this test session on the backend under test."""
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "samoe-test.db")
        return
    admin_url = os.environ["TEST_DATABASE_URL"]
    name = f"samoe_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live(database_url):
    """The app served over real HTTP on 127.0.0.1 with the emulator mounted at /emulator."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "LINE_EMULATOR": True,
            "LINE_CHANNEL_SECRET": CHANNEL_SECRET,
            "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
            "LINE_API_BASE_URL": base + "/emulator",
            "LINE_DATA_API_BASE_URL": base + "/emulator",
            "LINE_TIMEOUT": (2.0, 2.0),
            "WORKER_IN_PROCESS": False,
            "SCHEDULER_INTERVAL": 0,  # the 08:00 job runs only where a test runs it
            "DASHBOARD_REFRESH_SECONDS": 0,  # nor does a worker renew the dashboard's figures
            "SECRET_KEY": "test",
        }
    )
    with app.app_context():
        upgrade()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["TEST_BASE_URL"] = base
    app.config["TEST_DATABASE_URL"] = database_url
    try:
        yield app
    finally:
        server.shutdown()
        with app.app_context():
            db.engine.dispose()
        app.extensions["samoe.emulator"].extensions["line_emulator"].engine.dispose()


@pytest.fixture
def app(live):
    """The live app, with every table emptied and the emulator reset before the test.

    The data keys and the audit chain key are process-wide (models.crypto, services.audit,
    set by create_app): another app a test made since (its own SECRET_KEY) must not leave its
    keys behind for this one."""
    crypto.configure(crypto.parse_keys(live.config["DATA_ENCRYPTION_KEYS"]))
    audit.configure(live.config["AUDIT_CHAIN_KEY"])
    with live.app_context():
        for model in (OutboxMessage, Announcement, InboxLease, InboxEvent, ConversationState,
                      Invitation, ErasureRequest,
                      AuditEntry, ApiToken, Officer, Visit, Appointment, CaseService, Referral,
                      CaseGuardian, LinkCode, TimelineEntry, Consent, CasePhoto, Case,
                      AnonymousReport, CaseCounter, LineUser, ServiceState, SchedulerRun,
                      DashboardSnapshot, PublicSnapshot):
            db.session.execute(sa.delete(model))
        # the agencies are seed data: only their own deadlines go back to the defaults
        db.session.execute(sa.update(Agency).values(verify_days=None, referral_days=None,
                                                    first_action_days=None, visit_days=None))
        db.session.commit()
        db.session.remove()
    emulator = Emulator(live.config["TEST_BASE_URL"])
    emulator.reset()
    return live


@pytest.fixture
def base_url(app) -> str:
    return app.config["TEST_BASE_URL"]


@pytest.fixture
def emulator(app) -> Emulator:
    """The emulator's control API."""
    return Emulator(app.config["TEST_BASE_URL"])


@pytest.fixture
def worker(app):
    """A worker in this process (as `flask worker` runs it); call .burst() to drain."""
    ctx = app.app_context()
    ctx.push()
    try:
        yield Worker(app, app.extensions["samoe.dispatcher"], name="test-worker")
    finally:
        db.session.remove()
        ctx.pop()


@pytest.fixture(scope="session")
def assertion_engine(live):
    """An autocommit engine for the tests' own reads and writes: no transaction stays open,
    so a test never holds SQLite's lock (or an old snapshot) while the app works."""
    url = live.config["SQLALCHEMY_DATABASE_URI"]
    engine = sa.create_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")
    if url.startswith("sqlite"):

        @sa.event.listens_for(engine, "connect")
        def _busy_timeout(dbapi_connection, _record):
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

    yield engine
    engine.dispose()


@pytest.fixture
def s(app):
    """The app's own session inside an app context, as services use it; rolled back after."""
    with app.app_context():
        yield db.session
        db.session.rollback()
        db.session.remove()


@pytest.fixture
def session(app, assertion_engine):
    """A database session for the test's assertions and set-up (autocommit)."""
    with app.app_context(), Session(assertion_engine) as session:
        yield session


@pytest.fixture
def client(app):
    return app.test_client()
