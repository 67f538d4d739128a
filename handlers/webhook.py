"""POST /callback: verify LINE's signature, store each event once, commit, answer 200.

No LINE call and no conversation work happens here: the worker does that from the inbox.
When the database cannot take the events (unreachable; on SQLite, its write lock not had within
WEBHOOK_DB_WAIT_MS, below LINE's 2-second timeout) the answer is 503 with nothing stored, and
LINE redelivers.
"""

from __future__ import annotations

import json
import logging
from contextlib import nullcontext

from flask import Blueprint, Flask, current_app, has_app_context, request
from linebot.v3.webhook import SignatureValidator
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from bot import inbox
from bot.extensions import db
from bot.worker import wake_worker

log = logging.getLogger(__name__)

bp = Blueprint("webhook", __name__)


def _json(message: str) -> bytes:
    """What jsonify(message=...) says outside debug mode."""
    return (json.dumps({"message": message}, separators=(",", ":")) + "\n").encode()


# the answers, made once (what jsonify(message=...) said): (status line, JSON body)
STORED = ("200 OK", _json("ok"))
INVALID_SIGNATURE = ("400 BAD REQUEST", _json("invalid signature"))
MALFORMED = ("400 BAD REQUEST", _json("malformed webhook body"))
INCOMPLETE = ("400 BAD REQUEST", _json("incomplete body"))
FAILED = ("500 INTERNAL SERVER ERROR", _json("internal server error"))
UNAVAILABLE = ("503 SERVICE UNAVAILABLE", _json("temporarily unavailable"))


def _store(app: Flask, events: list[dict], destination: str | None) -> inbox.StoreResult:
    """Store the events and commit, through the process's group commit (bot.inbox.GroupCommit:
    the requests that arrive while a batch is written go together in the next), on a
    connection of the webhook's own: on SQLite in one transaction (bot.inbox.SqliteWriter), on
    PostgreSQL by one statement in autocommit mode (bot.inbox.PgWriter); elsewhere on a
    connection of the engine's (not the ORM session: the insert and the commit are all this
    request does with the database)."""
    writer = app.extensions.get("samoe.inbox_writer")
    if writer is not None:  # every request but a process's first
        return writer.store(events, destination)
    with nullcontext() if has_app_context() else app.app_context():  # for db.engine
        engine = db.engine
        if engine.dialect.name in ("sqlite", "postgresql"):
            # one per app and process (setdefault: one even if two race)
            wait = float(app.config.get("WEBHOOK_DB_WAIT_MS", 1500)) / 1000
            own = (inbox.PgWriter(engine) if engine.dialect.name == "postgresql"
                   else inbox.SqliteWriter(engine))
            writer = app.extensions.setdefault(
                "samoe.inbox_writer", inbox.GroupCommit(engine, wait, writer=own.write_batch))
            if writer.write_batch == own.write_batch:  # ours won the race: close with the engine
                event.listen(engine, "engine_disposed", lambda _engine: own.dispose())
            return writer.store(events, destination)
        with engine.begin() as connection:
            return inbox.store_events(connection, events, destination)


def receive(app: Flask, body: bytes, signature: str, remote_addr: str | None
            ) -> tuple[str, bytes]:
    """The webhook's whole work, for the Flask view and the fast path alike: check the
    signature, check the shape, store each event once and commit; the answer's status line
    and JSON body."""
    text = body.decode("utf-8", "replace")  # as request.get_data(as_text=True)
    validator: SignatureValidator = app.extensions["samoe.signature"]
    if not signature or not validator.validate(text, signature):
        log.warning("webhook refused: bad or missing signature from %s", remote_addr)
        return INVALID_SIGNATURE
    try:
        events, destination = inbox.parse_payload(text)
    except inbox.MalformedEvents as exc:
        log.warning("webhook refused: %s", exc)
        return MALFORMED
    try:
        result = _store(app, events, destination)
    except inbox.StoreTimeout as exc:  # SQLite's write lock not had within WEBHOOK_DB_WAIT_MS
        log.warning("webhook events not stored (503, LINE redelivers): %s", exc)
        return UNAVAILABLE
    except inbox.StoreUnavailable as exc:  # PostgreSQL unreachable or the insert failed
        log.error("webhook events not stored: database unavailable (503, LINE redelivers): %s",
                  exc)
        return UNAVAILABLE
    except SQLAlchemyError:
        log.exception("webhook events not stored: database unavailable")
        return UNAVAILABLE
    if result.stored:
        wake_worker(app)
    if result.duplicates:
        log.info("webhook: %d duplicate event(s) ignored", result.duplicates)
    return STORED


@bp.post("/callback")
def callback():
    """Receive a LINE webhook request (the first of each process, and any the fast path
    leaves to Flask: see WebhookFastPath)."""
    status, body = receive(current_app._get_current_object(),
                           request.get_data(),  # over MAX_CONTENT_LENGTH: 413 before here
                           request.headers.get("X-Line-Signature", ""), request.remote_addr)
    return current_app.response_class(body, status=status, mimetype="application/json")


class WebhookFastPath:
    """WSGI middleware: POST /callback answered by `receive` without Flask's request
    machinery (request context, session, routing, response object): 40-50 % of the webhook's
    CPU per request, the database's work included (bench/profile_worker.py).

    Only the plain case is taken: a POST to /callback with a Content-Length within
    MAX_CONTENT_LENGTH, once this process's inbox writer exists and, with WORKER_IN_PROCESS,
    its worker has started (both made by the first request, which Flask serves). Everything
    else (another path or method, a body too large or without a length, a chunked body)
    goes to Flask, whose view calls the same `receive`, so the answers are the same."""

    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.max_length = app.config.get("MAX_CONTENT_LENGTH")
        self.needs_worker = bool(app.config.get("WORKER_IN_PROCESS"))

    def _ready(self) -> bool:
        extensions = self.app.extensions
        return "samoe.inbox_writer" in extensions and (
            not self.needs_worker or "samoe.worker" in extensions)

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH", "")
        if (environ.get("PATH_INFO") != "/callback" or environ.get("REQUEST_METHOD") != "POST"
                or not length.isdigit() or "HTTP_TRANSFER_ENCODING" in environ
                or (self.max_length is not None and int(length) > self.max_length)
                or not self._ready()):
            return self.wsgi_app(environ, start_response)
        body = _read(environ["wsgi.input"], int(length))
        if body is None:  # the client went away before sending the whole body
            status, answer = INCOMPLETE
        else:
            try:
                status, answer = receive(self.app, body,
                                         environ.get("HTTP_X_LINE_SIGNATURE", ""),
                                         environ.get("REMOTE_ADDR"))
            except Exception:  # what Flask would answer 500 to
                log.exception("webhook request failed")
                status, answer = FAILED
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(answer)))])
        return [answer]


def _read(stream, length: int) -> bytes | None:
    """Exactly `length` bytes of the request body, or None if it ends before."""
    chunks = []
    left = length
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
