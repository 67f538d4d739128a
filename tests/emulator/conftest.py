"""Fixtures: the LINE emulator served on a real port, a webhook receiver, and the SDK client.

The emulator runs on a fresh SQLite file by default. Tests parametrized with ``emu_database``
(see ``helpers.BACKENDS``) also run on PostgreSQL when TEST_DATABASE_URL is set: a uniquely named
database is created on that server for the session and dropped afterwards.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, MessagingApiBlob
from werkzeug.serving import make_server

from emulator import create_emulator_app
from tests.emulator.helpers import ACCESS_TOKEN, CHANNEL_SECRET, EmulatorClient, WebhookReceiver

PG_SKIP_REASON = "TEST_DATABASE_URL is not set: the PostgreSQL run of the emulator is skipped"


class Served:
    """A WSGI app served by werkzeug on 127.0.0.1, in a background thread."""

    def __init__(self, app) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # A short poll interval makes shutdown() quick (the default waits up to 0.5 s).
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def pytest_report_header(config):
    if not os.environ.get("TEST_DATABASE_URL"):
        return f"emulator: {PG_SKIP_REASON}"
    return "emulator: SQLite and PostgreSQL (TEST_DATABASE_URL)"


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A new database on the TEST_DATABASE_URL server for this session, dropped at the end."""
    admin_url = os.environ.get("TEST_DATABASE_URL")
    if not admin_url:
        print(PG_SKIP_REASON)
        pytest.skip(PG_SKIP_REASON)
    admin_url = admin_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"emu_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path="/" + name))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def emu_database(request, tmp_path) -> str:
    """The database URL of the emulator under test: SQLite unless parametrized otherwise."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("pg_database_url")
    return f"sqlite:///{tmp_path / 'emulator.db'}"


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A webhook receiver that records requests and checks their signature."""
    receiver = WebhookReceiver(CHANNEL_SECRET)
    served = Served(receiver)
    receiver.url = served.url + "/callback"
    yield receiver
    served.stop()


@pytest.fixture
def emulator_config(emu_database, webhook) -> dict:
    """The config the emulator app is created with (tests may change it before use)."""
    return {
        "database_url": emu_database,
        "channel_secret": CHANNEL_SECRET,
        "channel_access_token": ACCESS_TOKEN,
        "webhook_url": webhook.url,
        "webhook_timeout": 5,
    }


@pytest.fixture
def emulator(emulator_config) -> Iterator[EmulatorClient]:
    """The emulator served on a real port, with empty state."""
    app = create_emulator_app(emulator_config)
    store = app.extensions["line_emulator"].store
    store.reset()  # a PostgreSQL database is shared by the session
    served = Served(app)
    client = EmulatorClient(served.url, app)
    yield client
    client.close()
    served.stop()
    store.engine.dispose()


@pytest.fixture
def api_client(emulator) -> Iterator[ApiClient]:
    """The SDK's API client pointed at the emulator."""
    configuration = Configuration(host=emulator.url, access_token=ACCESS_TOKEN)
    with ApiClient(configuration) as client:
        yield client


@pytest.fixture
def line_api(api_client) -> MessagingApi:
    """The SDK's MessagingApi on the emulator."""
    return MessagingApi(api_client)


@pytest.fixture
def line_blob(api_client) -> MessagingApiBlob:
    """The SDK's MessagingApiBlob (data host) on the emulator."""
    return MessagingApiBlob(api_client)
