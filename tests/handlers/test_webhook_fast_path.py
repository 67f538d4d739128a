"""POST /callback's fast path (handlers.webhook.WebhookFastPath), over real HTTP: after a
process's first webhook request, LINE's requests are answered without Flask's request
machinery, with the same answers; whatever is not the plain case still goes to Flask."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid

import pytest
import requests
import sqlalchemy as sa
from flask import request as flask_request
from werkzeug.serving import make_server

from bot import create_app, inbox
from bot.extensions import db
from models import InboxEvent
from tests.conftest import CHANNEL_SECRET, free_port
from tests.support import sign

USER = "U" + "f" * 32


def body_of(*texts: str) -> str:
    events = [{
        "type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": USER}, "replyToken": uuid.uuid4().hex,
        "webhookEventId": "01" + uuid.uuid4().hex[:24].upper(),
        "deliveryContext": {"isRedelivery": False},
        "message": {"type": "text", "id": uuid.uuid4().hex[:18], "text": text,
                    "quoteToken": "q"},
    } for text in texts]
    return json.dumps({"destination": "U" + "0" * 32, "events": events}, ensure_ascii=False)


class Served:
    """An app of its own on the test database, served over HTTP, that records which
    requests reached Flask (a before_request hook, registered before its first request)."""

    def __init__(self, database_url: str, **config) -> None:
        self.app = create_app({
            "SQLALCHEMY_DATABASE_URI": database_url, "LINE_EMULATOR": False,
            "LINE_CHANNEL_SECRET": CHANNEL_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": "t",
            "LINE_API_BASE_URL": "http://127.0.0.1:9", "WORKER_IN_PROCESS": False,
            "SCHEDULER_INTERVAL": 0, "DASHBOARD_REFRESH_SECONDS": 0, "SECRET_KEY": "test",
            **config,
        })
        self.through_flask: list[str] = []
        self.app.before_request(lambda: self.through_flask.append(
            f"{flask_request.method} {flask_request.path}"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def post(self, body: str | bytes, signature: str | None = "sign", **headers):
        if signature == "sign":
            signature = sign(body, CHANNEL_SECRET)
        if signature is not None:
            headers["X-Line-Signature"] = signature
        return requests.post(self.base + "/callback", data=body, timeout=10,
                             headers={"Content-Type": "application/json", **headers})

    def close(self) -> None:
        self.server.shutdown()
        worker = self.app.extensions.get("samoe.worker")
        if worker is not None:
            worker.stop.set()
            worker.thread.join(10)
        with self.app.app_context():
            db.engine.dispose()


@pytest.fixture
def served(app, database_url):  # `app`: the test database, its tables emptied
    served = Served(database_url)
    try:
        yield served
    finally:
        served.close()


def stored_texts(session) -> list[str]:
    rows = session.scalars(sa.select(InboxEvent).order_by(InboxEvent.id))
    return [json.loads(row.payload)["message"]["text"] for row in rows]


def test_after_the_first_request_the_webhook_is_answered_without_flask(served, session):
    answers = [served.post(body_of(text)) for text in ("หนึ่ง", "สอง 😀", "สาม")]
    assert [a.status_code for a in answers] == [200, 200, 200]
    # the same answer from Flask's view (the first) and from the fast path (the others)
    assert {a.content for a in answers} == {b'{"message":"ok"}\n'}
    assert {a.headers["Content-Type"] for a in answers} == {"application/json"}
    assert served.through_flask == ["POST /callback"]  # only the first: it made the writer
    assert stored_texts(session) == ["หนึ่ง", "สอง 😀", "สาม"]


def test_the_fast_path_refuses_forged_and_malformed_bodies_as_flask_does(served, session):
    assert served.post(body_of("ก่อน")).status_code == 200  # the writer exists now
    forged = served.post(body_of("ปลอม"), signature=sign("another body", CHANNEL_SECRET))
    missing = served.post(body_of("ไม่มีลายเซ็น"), signature=None)
    malformed = served.post('{"events": [{"type": "message", "timestamp": 1}]}')
    not_json = served.post("{not json")
    assert (forged.status_code, forged.json()) == (400, {"message": "invalid signature"})
    assert (missing.status_code, missing.json()) == (400, {"message": "invalid signature"})
    assert (malformed.status_code, malformed.json()) == (400, {"message": "malformed webhook body"})
    assert not_json.status_code == 400
    assert served.through_flask == ["POST /callback"]
    assert stored_texts(session) == ["ก่อน"]


def test_what_is_not_the_plain_case_still_goes_to_flask(served, session):
    assert served.post(body_of("ก่อน")).status_code == 200
    # a chunked body (no Content-Length): Flask reads it, the same view stores it
    body = body_of("เป็นท่อน").encode()
    chunked = requests.post(
        served.base + "/callback", data=iter([body[:40], body[40:]]), timeout=10,
        headers={"X-Line-Signature": sign(body, CHANNEL_SECRET),
                 "Content-Type": "application/json"})
    assert chunked.status_code == 200
    # over MAX_CONTENT_LENGTH (1 MB): Flask's 413, nothing read or stored
    big = body_of("ก" * (400 * 1024)).encode()
    assert served.post(big).status_code == 413
    # another method: Flask's 405
    assert requests.get(served.base + "/callback", timeout=10).status_code == 405
    assert served.through_flask == ["POST /callback"] * 3 + ["GET /callback"]
    assert stored_texts(session) == ["ก่อน", "เป็นท่อน"]


def test_a_body_cut_short_is_refused_and_nothing_stored(served, session):
    assert served.post(body_of("ก่อน")).status_code == 200
    body = body_of("ขาดกลางทาง").encode()
    head = (f"POST /callback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-Line-Signature: {sign(body, CHANNEL_SECRET)}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(head + body[: len(body) // 2])
        sock.shutdown(socket.SHUT_WR)  # the client goes away half-way through the body
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.endswith(b'{"message":"incomplete body"}\n')
    assert served.through_flask == ["POST /callback"]
    assert stored_texts(session) == ["ก่อน"]


def test_an_unexpected_error_on_the_fast_path_is_a_500_and_logged(served, session, monkeypatch,
                                                                  caplog):
    assert served.post(body_of("ก่อน")).status_code == 200

    def broken(_body):
        raise RuntimeError("a bug in the webhook")

    monkeypatch.setattr(inbox, "parse_payload", broken)
    answer = served.post(body_of("หลัง"))
    assert (answer.status_code, answer.json()) == (500, {"message": "internal server error"})
    assert "webhook request failed" in caplog.text
    assert "a bug in the webhook" in caplog.text  # with its traceback
    assert served.through_flask == ["POST /callback"]
    assert stored_texts(session) == ["ก่อน"]


def test_the_first_request_starts_the_in_process_worker_before_the_fast_path_is_used(
        app, database_url, session):
    served = Served(database_url, WORKER_IN_PROCESS=True)
    try:
        assert "samoe.worker" not in served.app.extensions
        assert served.post(body_of("แรก")).status_code == 200
        assert "samoe.worker" in served.app.extensions  # started by Flask's before_request
        assert served.post(body_of("ที่สอง")).status_code == 200
        assert served.through_flask == ["POST /callback"]
    finally:
        served.close()
    texts = stored_texts(session)
    assert sorted(texts) == sorted(["แรก", "ที่สอง"])
