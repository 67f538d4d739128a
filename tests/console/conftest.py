"""Console fixtures: an officer account, a signed-in test client, and the CSRF token read from
the page the way a browser's form carries it."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.config import normalise_database_url
from tests import factories as f

PASSWORD = "correct horse 1"  # what tests.factories.officer gives every account
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client, path: str = "/console/login") -> str:
    """The CSRF token of the session, as the page at `path` puts it in its forms."""
    page = client.get(path, follow_redirects=True)
    match = _TOKEN.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({page.status_code})"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD):
    token = csrf_of(client)
    return client.post("/console/login", data={"username": username, "password": password,
                                               "csrf_token": token})


class Console:
    """A signed-in officer's browser, without the browser."""

    def __init__(self, client, officer):
        self.client = client
        self.officer = officer
        response = login(client, officer.username)
        assert response.status_code == 302, response.get_data(as_text=True)
        self.token = csrf_of(client, "/console/cases")

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, **kwargs):
        return self.client.post(path, data={**(data or {}), "csrf_token": self.token}, **kwargs)


@pytest.fixture(scope="session")
def writing_engine(live):
    """An engine with ordinary transactions, for the tests' set-up through the services (a
    report takes a savepoint, which needs a transaction) and their reads."""
    url = live.config["SQLALCHEMY_DATABASE_URI"]
    engine = sa.create_engine(normalise_database_url(url))
    if url.startswith("sqlite"):

        @sa.event.listens_for(engine, "connect")
        def _busy_timeout(dbapi_connection, _record):
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

    yield engine
    engine.dispose()


@pytest.fixture
def session(app, writing_engine):
    """The tests' session: each factory commits; reads see what the app committed (a read
    and changes are committed by the test)."""
    with app.app_context(), Session(writing_engine) as session:
        yield session
        session.rollback()


@pytest.fixture
def learn_officer(app, session):
    """A LEARN officer of อำเภอน้ำพอง (4007): owns the out-of-school cases there."""
    return f.officer(session, agency="LEARN", area="4007", username="learn.np")


@pytest.fixture
def console(app, client, learn_officer):
    return Console(client, learn_officer)


@pytest.fixture
def volunteer(session):
    return f.line_user(session)


@pytest.fixture
def a_case(app, session, volunteer):
    """An out-of-school case in ตำบลน้ำพอง: owned by LEARN of อำเภอน้ำพอง."""
    return f.report(session, app.config["SECRET_KEY"], volunteer, name="เด็กชายต้นกล้า ใจดี",
                    id_kind="citizen_id", id_number="1103700012346")
