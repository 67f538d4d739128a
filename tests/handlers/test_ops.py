"""/healthz, /readyz, /metrics, and the webhook when the database is away."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
import requests
import sqlalchemy as sa
from werkzeug.serving import make_server

from bot import create_app
from models import InboxEvent, utcnow
from tests.conftest import CHANNEL_SECRET, free_port
from tests.support import sign

USER = "U" + "4" * 32


def test_healthz(base_url):
    assert requests.get(base_url + "/healthz", timeout=5).json() == {"status": "ok"}


def test_readyz_is_ready_with_current_migrations_and_no_lag(base_url):
    response = requests.get(base_url + "/readyz", timeout=5)
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["migrations"]["ok"] and checks["migrations"]["at"]
    assert checks["inbox_lag"]["seconds"] == 0


def test_readyz_fails_when_the_inbox_lags_behind(base_url, emulator, session):
    emulator.text(USER, "hello")
    session.execute(sa.update(InboxEvent).values(received_at=utcnow() - dt.timedelta(minutes=5)))
    session.commit()
    response = requests.get(base_url + "/readyz", timeout=5)
    assert response.status_code == 503
    assert response.json()["checks"]["inbox_lag"]["ok"] is False


def test_readyz_fails_when_migrations_are_behind(base_url, session):
    [revision] = session.scalars(sa.text("SELECT version_num FROM alembic_version")).all()
    session.execute(sa.text("UPDATE alembic_version SET version_num = 'a7c413ecb569'"))
    session.commit()
    try:
        response = requests.get(base_url + "/readyz", timeout=5)
        assert response.status_code == 503
        assert response.json()["checks"]["migrations"]["ok"] is False
    finally:
        session.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        session.commit()


def test_metrics_report_lag_backlog_and_sends(base_url, emulator, worker):
    emulator.text(USER, "hello")
    before = requests.get(base_url + "/metrics", timeout=5).text
    assert 'samoe_inbox_events{status="pending"} 1' in before
    worker.burst()
    after = requests.get(base_url + "/metrics", timeout=5)
    assert after.headers["Content-Type"].startswith("text/plain")
    body = after.text
    assert "samoe_inbox_lag_seconds 0" in body
    assert "samoe_outbox_backlog 0" in body
    assert 'samoe_outbox_sends{result="sent",via="reply"} 1' in body
    assert "samoe_push_held 0" in body


@pytest.fixture
def unreachable_db_url(database_url, tmp_path):
    """A database URL of the same kind that cannot be reached."""
    if database_url.startswith("sqlite"):
        return "sqlite:///" + str(tmp_path / "missing-dir" / "nowhere.db")
    return "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2"


def serve(app):
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{port}"


def test_database_unavailable_means_503_never_200(unreachable_db_url):
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": unreachable_db_url, "LINE_EMULATOR": False,
        "LINE_CHANNEL_SECRET": CHANNEL_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": "t",
        "WORKER_IN_PROCESS": False,
    })
    server, base = serve(app)
    try:
        body = json.dumps({"events": [{"type": "follow", "webhookEventId": "E1", "timestamp": 1,
                                       "source": {"type": "user", "userId": USER},
                                       "mode": "active"}]})
        response = requests.post(base + "/callback", data=body, timeout=10,
                                 headers={"X-Line-Signature": sign(body, CHANNEL_SECRET)})
        assert response.status_code == 503
        ready = requests.get(base + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"]["ok"] is False
    finally:
        server.shutdown()
