"""The embedded default: no LINE credentials, SQLite, the emulator mounted and the worker
running inside the web process once it serves HTTP (never inside CLI commands)."""

from __future__ import annotations

import threading

import pytest
from flask_migrate import upgrade
from werkzeug.serving import make_server

from bot import create_app
from tests.conftest import free_port
from tests.support import Emulator, texts, wait_until

USER = "U" + "6" * 32


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    for name in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "LINE_EMULATOR",
                 "DATABASE_URL", "WORKER_IN_PROCESS", "LINE_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    monkeypatch.setenv("PORT", str(port))
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'embedded.db'}"})
    with app.app_context():
        upgrade()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        worker = app.extensions.get("samoe.worker")
        if worker is not None:
            worker.stop.set()
            worker.wakeup.set()
            worker.thread.join(timeout=10)


def test_embedded_default_answers_through_the_mounted_emulator(embedded):
    app, base = embedded
    assert app.config["LINE_EMULATOR"] is True
    assert app.config["WORKER_IN_PROCESS"] is True
    assert "samoe.worker" not in app.extensions  # creating the app started nothing
    emulator = Emulator(base)
    long_text = ("สวัสดีค่ะ 😀 " * 500)[:5000]
    answer = emulator.text(USER, long_text)
    assert answer["status"] == 200
    sent = wait_until(lambda: emulator.sent(USER), timeout=20)
    assert texts(sent)[0].startswith("ขอโทษค่ะ")
    assert "samoe.worker" in app.extensions
