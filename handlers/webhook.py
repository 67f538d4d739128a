"""POST /callback: verify LINE's signature, store each event once, commit, answer 200.

No LINE call and no conversation work happens here: the worker does that from the inbox.
When the database cannot take the events (unreachable; on SQLite, its write lock not had within
WEBHOOK_DB_WAIT_MS, below LINE's 2-second timeout) the answer is 503 with nothing stored, and
LINE redelivers.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request
from linebot.v3.webhook import SignatureValidator
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from bot import inbox
from bot.extensions import db
from bot.worker import wake_worker

log = logging.getLogger(__name__)

bp = Blueprint("webhook", __name__)
OK_BODY = b'{"message":"ok"}\n'  # what jsonify(message="ok") says, made once


def _answer(status: int, message: str):
    return jsonify(message=message), status


def _store(events: list[dict], destination: str | None) -> inbox.StoreResult:
    """Store the events and commit, through the process's group commit (bot.inbox.GroupCommit:
    the requests that arrive while a batch is written go together in the next): on SQLite in
    one transaction, on PostgreSQL by one statement in autocommit mode on a connection of the
    webhook's own (bot.inbox.PgWriter); elsewhere on a connection of its own (not the ORM
    session: the insert and the commit are all this request does with the database)."""
    engine = db.engine
    writer = current_app.extensions.get("samoe.inbox_writer")
    if writer is None and engine.dialect.name in ("sqlite", "postgresql"):
        # one per app and process (setdefault: one even if two race)
        wait = float(current_app.config.get("WEBHOOK_DB_WAIT_MS", 1500)) / 1000
        batch = None
        if engine.dialect.name == "postgresql":
            pg = inbox.PgWriter(engine)
            batch = pg.write_batch
        writer = current_app.extensions.setdefault(
            "samoe.inbox_writer", inbox.GroupCommit(engine, wait, writer=batch))
        if batch is not None and writer.write_batch is batch:
            event.listen(engine, "engine_disposed", lambda _engine: pg.dispose())
    if writer is not None:
        return writer.store(events, destination)
    with engine.begin() as connection:
        return inbox.store_events(connection, events, destination)


@bp.post("/callback")
def callback():
    """Receive a LINE webhook request."""
    signature = request.headers.get("X-Line-Signature", "")
    body = request.get_data(as_text=True)  # over MAX_CONTENT_LENGTH: 413 before we get here
    validator: SignatureValidator = current_app.extensions["samoe.signature"]
    if not signature or not validator.validate(body, signature):
        log.warning("webhook refused: bad or missing signature from %s", request.remote_addr)
        return _answer(400, "invalid signature")
    try:
        events, destination = inbox.parse_payload(body)
    except inbox.MalformedEvents as exc:
        log.warning("webhook refused: %s", exc)
        return _answer(400, "malformed webhook body")
    try:
        result = _store(events, destination)
    except inbox.StoreTimeout as exc:  # SQLite's write lock not had within WEBHOOK_DB_WAIT_MS
        log.warning("webhook events not stored (503, LINE redelivers): %s", exc)
        return _answer(503, "temporarily unavailable")
    except inbox.StoreUnavailable as exc:  # PostgreSQL unreachable or the insert failed
        log.error("webhook events not stored: database unavailable (503, LINE redelivers): %s",
                  exc)
        return _answer(503, "temporarily unavailable")
    except SQLAlchemyError:
        log.exception("webhook events not stored: database unavailable")
        return _answer(503, "temporarily unavailable")
    if result.stored:
        wake_worker()
    if result.duplicates:
        log.info("webhook: %d duplicate event(s) ignored", result.duplicates)
    return current_app.response_class(OK_BODY, mimetype="application/json")
