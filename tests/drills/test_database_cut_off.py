"""Drill: the database is cut off and restored while signed events keep arriving.

Separate processes, as in production: Samoe served by gunicorn (two processes) and a
`flask --app wsgi worker`, both on a database of the drill's own; the LINE emulator served alone
on its own SQLite file (it stays up: it plays LINE), delivering signed events to gunicorn with
LINE's 2-second timeout, from several users, continuously.

- PostgreSQL: the app and the worker reach the database through a TCP proxy the test owns
  (the machine's shared PostgreSQL is never touched). The cut closes every connection and refuses
  new ones: the webhook answers 503 and LINE (the test) redelivers those events later, with the
  same webhookEventId and isRedelivery=true.
- SQLite: there is no network path to cut. Its honest equivalent is the database file locked
  by someone else: the test holds an exclusive lock (BEGIN EXCLUSIVE). The webhook waits for the
  write lock at most WEBHOOK_DB_WAIT_MS (1.5 s, below LINE's 2 s), then answers 503 with
  nothing stored, and LINE redelivers (the worker, meanwhile, just waits: its busy timeout is
  30 s).

Afterwards every event is acknowledged with 200, and once the worker drained, each was handled
exactly once: one handled inbox row and one reply (its own reply token) per webhookEventId.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from bot.config import normalise_database_url
from emulator.database import make_engine
from models import InboxEvent
from sqlite_writers import TurnTakingConnection
from tests.conftest import CHANNEL_SECRET, free_port
from tests.drills.support import (
    Gunicorn,
    PgDatabase,
    Proxy,
    StandaloneEmulator,
    samoe_env,
    upgrade,
    with_database,
    worker_process,
)
from tests.support import sign, wait_until

USERS = ["U" + f"{i:x}" * 32 for i in range(10, 14)]


class Traffic:
    """Signed events sent continuously through the emulator, one user after another."""

    def __init__(self, emulator: StandaloneEmulator, senders: int = 3):
        self.emulator = emulator
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers: list[tuple[float, str, int | None]] = []  # (time, event id, status)
        self.tokens: dict[str, str] = {}
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True)
                        for n in range(senders)]
        for thread in self.threads:
            thread.start()

    def _run(self, n: int) -> None:
        i = 0
        while not self.stop.is_set():
            user = USERS[(n + i) % len(USERS)]
            answer = self.emulator.deliver(user=user, text=f"drill {n}-{i}")
            [event] = answer["events"]
            status = answer.get("status") if "error" not in answer else None
            with self.lock:
                self.tokens[event["webhookEventId"]] = event["replyToken"]
                self.answers.append((time.monotonic(), event["webhookEventId"], status))
            i += 1
            time.sleep(0.05)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def acknowledged(self) -> set[str]:
        return {i for _, i, status in self.answers if status == 200}


def _counts(engine, ids: set[str]) -> tuple[int, int, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT webhook_event_id, status FROM inbox_events")).all()
        pending = conn.scalar(sa.text("SELECT count(*) FROM outbox_messages "
                                      "WHERE status = 'pending'"))
    done = [r for r in rows if r.status == "done"]
    return len(rows), len(done), pending


@pytest.fixture
def drill(database_url, tmp_path):
    """The drill's database (direct URL, app URL) and a function that cuts and restores."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "drill.db"
        url = "sqlite:///" + str(path)
        state: dict = {}

        def cut():
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            state["conn"] = conn

        def restore():
            state.pop("conn").rollback()

        yield {"backend": "sqlite", "direct": url, "app": url, "cut": cut, "restore": restore}
        if "conn" in state:
            state["conn"].close()
        return
    database = PgDatabase()
    host, port = "127.0.0.1", 5432
    proxy = Proxy(host, port)
    try:
        yield {"backend": "postgresql", "direct": database.url,
               "app": with_database(database.url, database.name, port=proxy.port),
               "cut": proxy.cut, "restore": proxy.restore, "proxy": proxy}
    finally:
        proxy.close()
        database.drop()


def test_database_cut_off_and_restored_while_events_arrive(drill, tmp_path):
    gunicorn_port = free_port()
    emulator = StandaloneEmulator(tmp_path, f"http://127.0.0.1:{gunicorn_port}/callback")
    env = samoe_env(drill["app"], emulator.url, WORKER_LEASE_SECONDS="3")
    upgrade(samoe_env(drill["direct"], emulator.url))
    engine = sa.create_engine(normalise_database_url(drill["direct"]))
    web = Gunicorn(env, tmp_path / "gunicorn.log", port=gunicorn_port)
    worker = worker_process(env, tmp_path / "worker.log")
    traffic = None
    try:
        traffic = Traffic(emulator)
        wait_until(lambda: len(traffic.acknowledged()) >= 6, timeout=20)
        drill["cut"]()
        cut_at = time.monotonic()
        time.sleep(4)
        drill["restore"]()
        restored_at = time.monotonic()
        wait_until(lambda: any(t > restored_at + 0.5 and s == 200
                               for t, _, s in list(traffic.answers)), timeout=40)
        time.sleep(1)
        traffic.finish()

        answers = list(traffic.answers)
        sent_ids = {i for _, i, _ in answers}
        during = [s for t, _, s in answers if cut_at < t < restored_at]
        refused = {i for _, i, s in answers if s != 200}
        print(f"\n{drill['backend']}: {len(sent_ids)} events sent; while cut off: "
              f"answers {sorted(set(map(str, during)))}; not acknowledged: {len(refused)}")
        assert refused, "the cut did not stop any event from being acknowledged"
        assert 503 in during, "the webhook did not answer 503 while the database was away"
        assert None not in during, "LINE gave up waiting for an answer (no 503 in time)"
        if drill["backend"] == "postgresql":
            assert drill["proxy"].refused > 0
        late = [(round(t - restored_at, 2), s) for t, _, s in answers if t > restored_at]
        assert all(s == 200 for t, s in late if t > 2), late

        # LINE redelivers what was not acknowledged (same id and token, isRedelivery=true),
        # and one acknowledged event comes again too (duplicates happen without redelivery)
        again = sorted(refused) + sorted(sent_ids - refused)[:1]
        for event_id in again:  # one request each, as LINE redelivers
            redelivered = emulator.deliver(redeliver=[event_id])
            assert redelivered["status"] == 200, redelivered.get("error")
            [event] = redelivered["events"]
            assert event["deliveryContext"]["isRedelivery"] is True

        def drained():
            rows, done, pending = _counts(engine, sent_ids)
            return rows == done == len(sent_ids) and pending == 0

        wait_until(drained, timeout=40, interval=0.3)
        time.sleep(1.0)  # a doubled event would show up now
        rows, done, pending = _counts(engine, sent_ids)
        with engine.connect() as conn:
            stored = set(conn.scalars(sa.text("SELECT webhook_event_id FROM inbox_events")))
        assert stored == sent_ids
        assert (rows, done, pending) == (len(sent_ids), len(sent_ids), 0)

        sent = [item for user in USERS for item in emulator.sent(user)]
        print(f"{drill['backend']}: {len(sent)} answers sent for {len(sent_ids)} events; "
              f"{len(refused)} redelivered")
        assert len(sent) == len(sent_ids), "an event was answered twice or never"
        tokens = [item["reply_token"] for item in sent if item["endpoint"] == "reply"]
        assert sorted(tokens) == sorted(traffic.tokens[i] for i in sent_ids)
    finally:
        if traffic is not None:
            traffic.finish()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except Exception:
            worker.kill()
            worker.wait()
        web.stop()
        emulator.stop()
        engine.dispose()


def _signed_event() -> tuple[str, bytes, dict]:
    event_id = "01" + uuid.uuid4().hex[:24].upper()
    body = json.dumps({"destination": "Uxxx", "events": [{
        "type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": USERS[0]}, "webhookEventId": event_id,
        "replyToken": uuid.uuid4().hex, "deliveryContext": {"isRedelivery": False},
        "message": {"type": "text", "id": "1", "text": "hello", "quoteToken": "q"}}]}).encode()
    return event_id, body, {"X-Line-Signature": sign(body, CHANNEL_SECRET),
                            "Content-Type": "application/json"}


@pytest.fixture
def short_wait(app):
    """The webhook's wait for SQLite's write lock made 400 ms (a new group commit with it)."""
    if not app.config["TEST_DATABASE_URL"].startswith("sqlite"):
        pytest.skip("SQLite only: its write lock held by another connection")
    saved = app.config["WEBHOOK_DB_WAIT_MS"]
    app.config["WEBHOOK_DB_WAIT_MS"] = 400
    app.extensions.pop("samoe.inbox_writer", None)
    yield 0.4
    app.config["WEBHOOK_DB_WAIT_MS"] = saved
    app.extensions.pop("samoe.inbox_writer", None)


def test_on_sqlite_the_webhook_waits_for_the_lock_a_bounded_time_then_answers_503(
        app, base_url, session, short_wait):
    path = app.config["TEST_DATABASE_URL"].removeprefix("sqlite:///")
    held = sqlite3.connect(path, timeout=30, isolation_level=None)
    sent = [_signed_event() for _ in range(6)]

    def post(item):
        started = time.monotonic()
        answer = requests.post(base_url + "/callback", data=item[1], headers=item[2], timeout=10)
        return answer.status_code, time.monotonic() - started

    try:
        held.execute("BEGIN EXCLUSIVE")  # someone else's long write
        with ThreadPoolExecutor(len(sent)) as pool:  # concurrent requests: one batch or two
            answers = list(pool.map(post, sent))
    finally:
        held.rollback()
        held.close()
    assert [status for status, _ in answers] == [503] * len(sent)
    # each within its own bound (the batch behind a waiting one does not wait twice)
    assert all(short_wait * 0.8 <= took < short_wait + 0.8 for _, took in answers), answers
    assert session.scalar(sa.select(sa.func.count()).select_from(InboxEvent)) == 0
    # the lock gone, LINE's redeliveries are stored once each
    for item in sent + sent[:2]:
        assert post(item)[0] == 200
    stored = session.scalars(sa.select(InboxEvent.webhook_event_id)).all()
    assert sorted(stored) == sorted(event_id for event_id, _, _ in sent)


def test_on_sqlite_a_writer_taking_turns_bounds_the_webhooks_wait_and_wakes_it_at_its_commit(
        app, base_url, session, short_wait):
    """Samoe's writers take turns (sqlite_writers): the webhook behind one of them still
    answers 503 within its bound, and is let in as soon as the one before it commits."""
    path = app.config["TEST_DATABASE_URL"].removeprefix("sqlite:///")
    # an engine that takes turns as Samoe's processes do (the emulator's: WAL, BEGIN
    # IMMEDIATE, sqlite_writers), with its own lock descriptor: to this process's web server
    # it is another process
    engine = make_engine(f"sqlite:///{path}")
    first, second = _signed_event(), _signed_event()

    def post(item):
        started = time.monotonic()
        answer = requests.post(base_url + "/callback", data=item[1], headers=item[2], timeout=10)
        return answer.status_code, time.monotonic() - started

    try:
        with engine.begin() as held:  # a worker's batch elsewhere, longer than the bound
            assert isinstance(held.connection.dbapi_connection, TurnTakingConnection)
            status, took = post(first)
            assert status == 503 and short_wait * 0.8 <= took < short_wait + 0.8
        with ThreadPoolExecutor(1) as pool:
            with engine.begin():  # a short one: the webhook waits for it, then is let in
                waiting = pool.submit(post, second)
                time.sleep(0.15)
            status, took = waiting.result()
    finally:
        engine.dispose()
    assert status == 200 and 0.15 <= took < short_wait
    assert session.scalars(sa.select(InboxEvent.webhook_event_id)).all() == [second[0]]
