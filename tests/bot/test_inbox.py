"""The inbox store and leases, directly on each database."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import closing
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from bot import inbox
from bot.extensions import db


def _event(event_id: str, user: str = "U" + "7" * 32, ts: int = 1) -> dict:
    return {"type": "follow", "webhookEventId": event_id, "timestamp": ts, "mode": "active",
            "source": {"type": "user", "userId": user}}


def test_store_counts_new_and_duplicate_events(app):
    with app.app_context():
        first = inbox.store_events(db.session, [_event("A"), _event("B"), _event("A")], None)
        again = inbox.store_events(db.session, [_event("B"), _event("C")], None)
        db.session.commit()
    assert (first.stored, first.duplicates) == (2, 1)
    assert (again.stored, again.duplicates) == (1, 1)


def test_a_lease_is_taken_once_until_released_or_expired(app):
    user = "U" + "8" * 32
    with app.app_context():
        assert inbox.acquire_lease(db.session, user, "w1", 30) is True
        assert inbox.acquire_lease(db.session, user, "w2", 30) is False
        assert inbox.extend_lease(db.session, user, "w2", 30) is False
        db.session.rollback()
        inbox.release_lease(db.session, user, "w2")  # not the holder: nothing happens
        assert inbox.acquire_lease(db.session, user, "w2", 30) is False
        inbox.release_lease(db.session, user, "w1")
        assert inbox.acquire_lease(db.session, user, "w2", -1) is True  # born expired
        assert inbox.acquire_lease(db.session, user, "w3", 30) is True
        db.session.remove()


def test_events_without_a_user_are_keyed_by_their_own_id():
    assert inbox.user_key_of({"webhookEventId": "E9", "source": None}) == "~E9"
    assert inbox.user_key_of({"webhookEventId": "E9",
                              "source": {"type": "room", "roomId": "R1"}}) == "R1"


def _sqlite_path(app) -> str:
    url = app.config["TEST_DATABASE_URL"]
    if not url.startswith("sqlite"):
        pytest.skip("SQLite only: the group commit is the webhook's on SQLite")
    return urlsplit(url).path


def _stored_ids(path: str) -> set[str]:
    with closing(sqlite3.connect(path)) as other:
        return {row[0] for row in other.execute("SELECT webhook_event_id FROM inbox_events")}


def _in_one_batch(app, events: list[dict]) -> tuple[list, list[str], int]:
    """Store each event from its own thread (as concurrent webhook requests of one process),
    while another connection holds SQLite's write lock: the first request's batch waits for
    it, the others gather in the next one. Returns each request's result (or error), which
    of its own events each request saw committed when it was answered, and the commits."""
    path = _sqlite_path(app)
    with app.app_context():
        engine = db.engine
        writer = inbox.GroupCommit(engine)
        commits = []

        def count(dbapi_connection, _record, _proxy) -> None:
            # the writer's own connection, taken from the pool once: its COMMITs counted
            dbapi_connection.set_trace_callback(
                lambda sql: commits.append(sql) if sql == "COMMIT" else None)

        sa.event.listen(engine, "checkout", count)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        results: list = [None] * len(events)
        seen: list = [None] * len(events)

        def request(i: int) -> None:
            try:
                results[i] = writer.store([events[i]], None)
            except Exception as exc:  # noqa: BLE001 (the test looks at it)
                results[i] = exc
            seen[i] = events[i]["webhookEventId"] in _stored_ids(path)

        threads = [threading.Thread(target=request, args=(0,))]
        threads[0].start()
        time.sleep(0.3)  # the first request waits for the write lock, its batch closed
        threads += [threading.Thread(target=request, args=(i,)) for i in range(1, len(events))]
        for thread in threads[1:]:
            thread.start()
        time.sleep(0.3)  # they all joined the next batch
        blocker.execute("ROLLBACK")
        blocker.close()
        for thread in threads:
            thread.join(timeout=30)
        sa.event.remove(engine, "checkout", count)
    return results, seen, len(commits)


def test_concurrent_webhook_requests_share_one_commit_and_are_answered_after_it(app):
    events = [_event(f"G{i}", user="U" + f"{i:x}" * 32, ts=i + 1) for i in range(6)]
    results, seen, commits = _in_one_batch(app, events)
    assert [(r.stored, r.duplicates) for r in results] == [(1, 0)] * 6
    assert seen == [True] * 6  # each answered only once its event was committed
    assert commits == 2  # the first request's batch, then the five others together
    assert _stored_ids(_sqlite_path(app)) == {f"G{i}" for i in range(6)}


def test_a_request_that_cannot_be_stored_does_not_fail_its_batch(app):
    events = [_event(f"H{i}", ts=i + 1) for i in range(4)]
    events[2]["timestamp"] = 2**70  # no database integer holds it
    results, seen, commits = _in_one_batch(app, events)
    assert isinstance(results[2], Exception)
    assert [(r.stored, r.duplicates) for i, r in enumerate(results) if i != 2] == [(1, 0)] * 3
    assert seen == [True, True, False, True]
    assert _stored_ids(_sqlite_path(app)) == {"H0", "H1", "H3"}


# -- SQLite: the webhook's own connection (bot.inbox.SqliteWriter) ------------------------


def test_the_sqlite_writer_keeps_one_connection_with_the_apps_settings(app):
    path = _sqlite_path(app)
    with app.app_context():
        writer = inbox.SqliteWriter(db.engine)
        [first] = writer.write_batch([([_event("K1")], None)])
        raw = writer._raw
        [second] = writer.write_batch([([_event("K2"), _event("K1")], "Ubot")])
        assert writer._raw is raw  # kept, not taken from the pool again
        settings = {name: raw.execute(f"PRAGMA {name}").fetchone()[0]
                    for name in ("journal_mode", "synchronous", "foreign_keys")}
        assert not raw.in_transaction  # committed, the turn given back
        writer.dispose()
        assert writer._raw is None
    assert (first.stored, first.duplicates, second.stored, second.duplicates) == (1, 0, 1, 1)
    assert settings == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}
    assert _stored_ids(path) == {"K1", "K2"}


def test_the_sqlite_writer_goes_on_after_its_connection_is_closed_or_disposed(app):
    path = _sqlite_path(app)
    with app.app_context():
        writer = inbox.SqliteWriter(db.engine)
        writer.write_batch([([_event("L1")], None)])
        writer._raw.close()  # closed under it: the batch is tried again on a new connection
        [again] = writer.write_batch([([_event("L2")], None)])
        kept = writer._raw
        writer._writing.acquire()  # disposed while a batch is being written
        writer.dispose()
        assert writer._raw is kept  # not closed under the batch
        writer._writing.release()
        [after] = writer.write_batch([([_event("L3")], None)])
        assert writer._raw is not kept  # closed before the next batch, a new one made
        writer.dispose()
    assert (again.stored, after.stored) == (1, 1)
    assert _stored_ids(path) == {"L1", "L2", "L3"}


def test_the_sqlite_writer_answers_what_it_could_not_store_without_raising(app):
    path = _sqlite_path(app)
    with app.app_context():
        writer = inbox.SqliteWriter(db.engine)
        bad = _event("M1", ts=2**70)  # no database integer holds it
        [alone] = writer.write_batch([([bad], None)])
        results = writer.write_batch([([_event("M2")], None), ([bad], None),
                                      ([_event("M3")], None)])
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            late = writer.write_batch([([_event("M4")], None)], time.monotonic() + 0.2)
            waited = time.monotonic() - started
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        [now] = writer.write_batch([([_event("M4")], None)], time.monotonic() + 1)
        writer.dispose()
    assert isinstance(alone, inbox.StoreUnavailable)
    assert isinstance(results[1], inbox.StoreUnavailable)
    assert [(r.stored, r.duplicates) for r in (results[0], results[2])] == [(1, 0), (1, 0)]
    assert isinstance(late[0], inbox.StoreTimeout) and 0.15 <= waited < 1.5
    assert now.stored == 1
    assert _stored_ids(path) == {"M2", "M3", "M4"}


def test_the_sqlite_writer_waits_for_its_turn_and_then_for_sqlite_only_until_its_deadline(app):
    """Its turn had late (another process's writer let go after 0.3 s) and SQLite then held by
    a writer that does not take turns: the batch gives up at its deadline (0.5 s), not after
    another busy timeout."""
    from sqlite_writers import WriterLock

    path = _sqlite_path(app)
    with app.app_context():
        writer = inbox.SqliteWriter(db.engine)
        writer.write_batch([([_event("N1")], None)])
        other = WriterLock(path + ".writer-lock")  # its own descriptor: another process
        foreign = sqlite3.connect(path, isolation_level=None)
        assert other.acquire(1)
        foreign.execute("BEGIN EXCLUSIVE")
        threading.Timer(0.3, other.release).start()
        try:
            started = time.monotonic()
            [late] = writer.write_batch([([_event("N2")], None)], started + 0.5)
            took = time.monotonic() - started
        finally:
            foreign.rollback()
            foreign.close()
        [again] = writer.write_batch([([_event("N2")], None)], time.monotonic() + 1)
        writer.dispose()
    assert isinstance(late, inbox.StoreTimeout) and 0.45 <= took < 0.8, (late, took)
    assert again.stored == 1  # the turn was given back: the next batch is let in
    assert _stored_ids(path) == {"N1", "N2"}


# -- PostgreSQL: the webhook's own connections (bot.inbox.PgWriter) -----------------------


def _pg_writer(app) -> inbox.PgWriter:
    if not app.config["TEST_DATABASE_URL"].startswith("postgresql"):
        pytest.skip("PostgreSQL only: PgWriter is the webhook's writer there")
    with app.app_context():
        return inbox.PgWriter(db.engine)


def _rows_of(session, ids: list[str]) -> dict[str, object]:
    from models import InboxEvent

    return {r.webhook_event_id: r for r in session.scalars(
        sa.select(InboxEvent).where(InboxEvent.webhook_event_id.in_(ids)))}


def test_pg_writer_stores_each_event_once_with_the_columns_store_events_gives(app, session):
    writer = _pg_writer(app)
    thai = {**_event("PGW-A", "U" + "a" * 32, 1_700_000_000_123),
            "type": "message", "replyToken": "r" * 32, "deliveryContext": {"isRedelivery": True},
            "message": {"type": "text", "id": "1", "text": "สวัสดีค่ะ 🙂 \"อ้างอิง\" \\ ท้าย"}}
    first = writer.store([thai, _event("PGW-B"), _event("PGW-A")], "Ubot")
    again = writer.store([_event("PGW-B"), _event("PGW-C")], None)
    assert (first.stored, first.duplicates) == (2, 1)
    assert (again.stored, again.duplicates) == (1, 1)
    with app.app_context():  # the same event through the ORM's path, for comparison
        inbox.store_events(db.session, [{**thai, "webhookEventId": "PGW-D"}], "Ubot")
        db.session.commit()
    rows = _rows_of(session, ["PGW-A", "PGW-B", "PGW-C", "PGW-D"])
    assert set(rows) == {"PGW-A", "PGW-B", "PGW-C", "PGW-D"}
    a, d = rows["PGW-A"], rows["PGW-D"]
    for column in ("user_key", "event_type", "mode", "occurred_ms", "is_redelivery",
                   "destination", "status", "attempts", "available_at", "handled_at"):
        assert getattr(a, column) == getattr(d, column), column
    assert json.loads(a.payload) == thai  # the text exactly, emoji and escapes included
    assert a.payload == d.payload.replace("PGW-D", "PGW-A")
    assert a.received_at.tzinfo is not None and abs((d.received_at - a.received_at)
                                                    .total_seconds()) < 60
    writer.dispose()


def test_pg_writer_connects_again_when_the_server_dropped_its_connection(app, session):
    writer = _pg_writer(app)
    writer.store([_event("PGW-K1")], None)
    [kept] = list(writer._idle)
    pid = kept.info.backend_pid
    with app.app_context(), db.engine.connect() as connection:  # as a server restart would
        connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        connection.commit()
    result = writer.store([_event("PGW-K2")], None)
    assert (result.stored, result.duplicates) == (1, 0)
    [fresh] = list(writer._idle)
    assert fresh is not kept and kept.closed and fresh.info.backend_pid != pid
    assert set(_rows_of(session, ["PGW-K1", "PGW-K2"])) == {"PGW-K1", "PGW-K2"}
    writer.dispose()
    assert fresh.closed and not writer._idle


def test_pg_writer_refuses_with_store_unavailable_when_the_server_is_unreachable(app, session):
    writer = _pg_writer(app)
    with app.app_context():
        closed_port = db.engine.url.set(port=_closed_port(), host="127.0.0.1")
        unreachable = inbox.PgWriter(sa.create_engine(closed_port))
    with pytest.raises(inbox.StoreUnavailable):
        unreachable.store([_event("PGW-U")], None)
    assert not unreachable._idle
    assert _rows_of(session, ["PGW-U"]) == {}
    writer.dispose()


def test_pg_writer_keeps_at_most_its_share_of_idle_connections(app):
    writer = _pg_writer(app)
    writer.keep = 2
    connections = [writer._connect() for _ in range(3)]
    for connection in connections:
        writer._give_back(connection)
    assert list(writer._idle) == connections[:2] and connections[2].closed
    writer.dispose()
    in_use = writer._connect()  # one taken before dispose is closed when given back
    writer.dispose()
    writer._give_back(in_use)
    assert in_use.closed and all(c.closed for c in connections) and not writer._idle


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_pg_writer_batch_counts_each_request_and_one_bad_request_fails_alone(app, session):
    """Several requests' events in one statement (the webhook's group commit on PostgreSQL):
    each request's own count, an event two requests carry stored once (for the first), and a
    request the database refuses (a timestamp beyond bigint) failing alone."""
    writer = _pg_writer(app)
    huge = {**_event("PGB-X"), "timestamp": 2**70}
    results = writer.write_batch([
        ([_event("PGB-A"), _event("PGB-B")], None),
        ([huge], None),
        ([_event("PGB-B"), _event("PGB-C")], "Ubot"),
        ([], None),
    ])
    assert (results[0].stored, results[0].duplicates) == (2, 0)
    assert isinstance(results[1], inbox.StoreUnavailable)
    assert (results[2].stored, results[2].duplicates) == (1, 1)
    assert (results[3].stored, results[3].duplicates) == (0, 0)
    assert set(_rows_of(session, ["PGB-A", "PGB-B", "PGB-C", "PGB-X"])) == {
        "PGB-A", "PGB-B", "PGB-C"}
    writer.dispose()


def test_pg_group_commit_answers_each_concurrent_request_after_its_events_are_stored(app,
                                                                                    session):
    writer = _pg_writer(app)
    with app.app_context():
        group = inbox.GroupCommit(db.engine, 1.5, writer=writer.write_batch)
    results: dict[int, inbox.StoreResult] = {}

    def post(n: int) -> None:
        results[n] = group.store([_event(f"PGG-{n}"), _event(f"PGG-{n % 3}")], None)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == list(range(12))
    assert sum(r.stored for r in results.values()) == 12  # PGG-0 .. PGG-11, each once
    assert sum(r.duplicates for r in results.values()) == 12
    assert len(_rows_of(session, [f"PGG-{n}" for n in range(12)])) == 12
    writer.dispose()
