"""The inbox: store webhook events once, and let workers lease one user's events at a time.

Leasing is a conditional UPDATE on `inbox_leases` (one row per user), the same statement on
SQLite and PostgreSQL: it succeeds only on a row that is free or whose lease has expired.
The holder re-checks its lease in the transaction that marks an event handled, so a worker
whose lease was taken over (it stalled past expiry) cannot commit a second handling.

A worker's round (`claim`) leases up to twenty users with due work that nobody holds and reads
their pending events, in one transaction; it gives the leases back together at the end
(`release_leases`). Per user that is a fraction of a commit, where a lease taken and given back
per user cost two (bench/profile_worker.py).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import cache

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from bot import recordset
from bot.extensions import SQLITE_BUSY_TIMEOUT_MS
from models import InboxEvent, InboxLease, utcnow
from sqlite_writers import TurnTakingConnection


class MalformedEvents(ValueError):
    """The body is not a LINE webhook payload."""


@dataclass(frozen=True)
class StoreResult:
    """How many events were new and how many were already known."""

    stored: int
    duplicates: int


def dialect_insert(session: Session, model):
    """An INSERT that supports ON CONFLICT DO NOTHING on the session's database."""
    name = session.get_bind().dialect.name
    return (pg_insert if name == "postgresql" else sqlite_insert)(model)


def user_key_of(event: dict) -> str:
    """The key that orders and serialises an event: its user, group or room."""
    source = event.get("source") or {}
    key = source.get("userId") or source.get("groupId") or source.get("roomId")
    return str(key) if key else "~" + str(event["webhookEventId"])


def parse_payload(body: str) -> tuple[list[dict], str | None]:
    """Check the shape of a webhook body; return its events and destination."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedEvents("body is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise MalformedEvents("body has no events list")
    for event in data["events"]:
        if not isinstance(event, dict):
            raise MalformedEvents("an event is not an object")
        if not isinstance(event.get("webhookEventId"), str) or not event["webhookEventId"]:
            raise MalformedEvents("an event has no webhookEventId")
        if not isinstance(event.get("type"), str):
            raise MalformedEvents("an event has no type")
        timestamp = event.get("timestamp")
        if not isinstance(timestamp, int) or isinstance(timestamp, bool):
            raise MalformedEvents("an event has no timestamp")
        if not -(2**63) <= timestamp < 2**63:  # what a database's BIGINT holds
            raise MalformedEvents("an event's timestamp is out of range")
    destination = data.get("destination")
    return data["events"], destination if isinstance(destination, str) else None


#: the columns `_rows` gives a value (the rest are NULL or the table's own)
ROW_COLUMNS = ("webhook_event_id", "user_key", "event_type", "mode", "occurred_ms",
               "is_redelivery", "destination", "payload", "received_at", "status", "attempts")


def _rows(events: list[dict], destination: str | None, now) -> list[dict]:
    """The inbox rows of these events (their columns, payload as JSON text)."""
    return [
        {
            "webhook_event_id": event["webhookEventId"][:64],
            "user_key": user_key_of(event)[:80],
            "event_type": event["type"][:40],
            "mode": str(event.get("mode") or "active")[:16],
            "occurred_ms": event["timestamp"],
            "is_redelivery": bool((event.get("deliveryContext") or {}).get("isRedelivery")),
            "destination": destination,
            "payload": json.dumps(event, ensure_ascii=False, separators=(",", ":")),
            "received_at": now,
            "status": InboxEvent.PENDING,
            "attempts": 0,
        }
        for event in events
    ]


def store_events(bind: Session | Connection, events: list[dict],
                 destination: str | None) -> StoreResult:
    """Insert each event once (by webhookEventId) in the transaction of `bind` (a session or
    a connection); duplicates and redeliveries are ignored."""
    if not events:
        return StoreResult(0, 0)
    connection = bind if isinstance(bind, Connection) else bind.connection()
    if connection.dialect.name == "sqlite":
        # straight to the driver, in the transaction SQLAlchemy began (BEGIN IMMEDIATE)
        return _sqlite_store(connection.connection.dbapi_connection, connection.dialect,
                             events, destination, utcnow())
    rows = _rows(events, destination, utcnow())
    stored = 0
    statement = _insert_events(connection.dialect.name)
    for row in rows:  # one cached Core statement, bound parameters: nothing compiled per request
        stored += len(connection.execute(statement, row).all())
    return StoreResult(stored, len(rows) - stored)


def _sqlite_store(raw, dialect, events: list[dict], destination: str | None,
                  now) -> StoreResult:
    """Insert the events through the driver's connection `raw`, in its open transaction: a
    fifth of the CPU of SQLAlchemy's execution of the same statement, for each event."""
    rows = _rows(events, destination, now)
    sql, columns = _sqlite_insert(dialect)
    stored = 0
    for row in rows:
        params = [process(row[key]) if process else row[key] for key, process in columns]
        stored += len(raw.execute(sql, params).fetchall())
    return StoreResult(stored, len(rows) - stored)


@cache
def _sqlite_insert(dialect) -> tuple[str, list]:
    """SQLite's INSERT ... ON CONFLICT DO NOTHING RETURNING id of `_rows`, as SQLAlchemy
    compiles it, and each column's bind processing (UTCDateTime: to SQLite's text)."""
    table = InboxEvent.__table__
    statement = _insert_events("sqlite").values({key: sa.bindparam(key) for key in ROW_COLUMNS})
    compiled = statement.compile(dialect=dialect)
    order = compiled.positiontup
    return str(compiled), [(key, table.c[key].type.bind_processor(dialect)) for key in order]


class StoreUnavailable(Exception):
    """The database could not take the events (unreachable, or the statement failed): nothing
    was stored (answer 503; LINE redelivers)."""


class PgWriter:
    """PostgreSQL: the webhook's events stored by one statement in autocommit mode, on a
    connection of the writer's own.

    A statement alone is atomic, so no BEGIN or COMMIT round trip is needed; its text is the
    same for any number of events (the rows travel as one JSON array, read back by
    `json_to_recordset`), so the server prepares it once per connection. The connections are
    psycopg's own, opened with the arguments SQLAlchemy would use, and kept between requests
    (at most `keep` idle): checking one out of SQLAlchemy's pool, setting its isolation level
    to autocommit and back, and running the insert through SQLAlchemy's execution cost more
    than the insert itself (0.21 against 0.09 ms of CPU per event, bench/README.md).

    The webhook writes through a GroupCommit with `write_batch`: the requests that arrive
    while a statement runs go together in the next one, so under load one statement (and one
    flush of PostgreSQL's log) serves several requests.

    A kept connection that fails (the server restarted meanwhile) is closed and the insert
    tried once more on a new one: it cannot have stored anything twice (ON CONFLICT DO
    NOTHING). When that fails too, the request gets StoreUnavailable (503, LINE redelivers).
    `dispose` (called when the app's engine is disposed) closes them all.
    """

    def __init__(self, engine, keep: int = 8, connect_timeout: int = 2) -> None:
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        cparams.setdefault("connect_timeout", connect_timeout)
        self._connect_args = (cargs, cparams)
        self._idle: deque = deque()  # append and pop are atomic: no lock needed
        self.keep = keep
        self._generation = 0  # connections of an earlier generation are not kept
        self.statement = _pg_insert_text()

    def _connect(self):
        cargs, cparams = self._connect_args
        connection = psycopg.connect(*cargs, **cparams, autocommit=True)
        connection.samoe_generation = self._generation
        return connection

    def _give_back(self, connection) -> None:
        if (connection.closed or len(self._idle) >= self.keep
                or connection.samoe_generation != self._generation):
            self._close(connection)
        else:
            self._idle.append(connection)

    def _close(self, connection) -> None:
        try:
            connection.close()
        except psycopg.Error:
            pass

    def _insert(self, rows: list[dict]) -> set[str]:
        """Insert the rows by one statement; return the webhook event ids it stored."""
        data = recordset.dumps(rows)
        try:
            connection = self._idle.pop()
        except IndexError:
            connection = None
        try:
            if connection is not None:
                try:
                    stored = connection.execute(self.statement, (data,), prepare=True).fetchall()
                except psycopg.OperationalError:  # kept too long: the server left it
                    self._close(connection)
                    connection = None
            if connection is None:
                connection = self._connect()
                stored = connection.execute(self.statement, (data,), prepare=True).fetchall()
        except psycopg.Error as exc:
            if connection is not None:
                self._close(connection)
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}".strip()) from exc
        self._give_back(connection)
        return {event_id for (event_id,) in stored}

    def store(self, events: list[dict], destination: str | None) -> StoreResult:
        """Store one request's events (StoreUnavailable when the database cannot)."""
        [result] = self.write_batch([(events, destination)])
        if isinstance(result, Exception):
            raise result
        return result

    def write_batch(self, items: list[tuple[list[dict], str | None]],
                    deadline: float | None = None) -> list[StoreResult | Exception]:
        """Several requests' events by one statement (GroupCommit's batch): each request's
        result, counted from the ids the statement stored (an event two requests of the
        batch both carry is stored once, for the first). If the statement fails, each
        request's events are tried alone, so one bad request cannot fail the others."""
        now = utcnow().replace(tzinfo=None).isoformat()  # naive UTC, as UTCDateTime stores
        rows: list[dict] = []
        owners: list[int] = []
        for index, (events, destination) in enumerate(items):
            mine = _rows(events, destination, now)
            rows.extend(mine)
            owners.extend([index] * len(mine))
        counts = [[0, 0] for _ in items]
        if rows:
            try:
                stored = self._insert(rows)
            except StoreUnavailable as exc:
                if len(items) == 1:
                    return [exc]
                return [self._alone(events, destination) for events, destination in items]
            for row, owner in zip(rows, owners, strict=True):
                event_id = row["webhook_event_id"]
                if event_id in stored:
                    stored.discard(event_id)
                    counts[owner][0] += 1
                else:
                    counts[owner][1] += 1
        return [StoreResult(*count) for count in counts]

    def _alone(self, events: list[dict], destination: str | None) -> StoreResult | Exception:
        try:
            return self.store(events, destination)
        except StoreUnavailable as exc:
            return exc

    def dispose(self) -> None:
        """Close the idle connections; those in use are closed when they are given back."""
        self._generation += 1
        while True:
            try:
                self._close(self._idle.pop())
            except IndexError:
                return


class SqliteWriter:
    """SQLite: the webhook's batches written on one connection of the writer's own, kept for
    the process's life, straight through the driver.

    The connection is made by the app's engine (its connect events set WAL, the busy timeout,
    foreign keys and synchronous=FULL, and it takes turns with the other writers:
    sqlite_writers) and then detached from the pool. GroupCommit writes one batch at a time,
    so one connection is enough; a batch costs a busy timeout set to what is left of its
    bounded wait, BEGIN IMMEDIATE after its turn, the inserts and COMMIT. Through the pool the
    same batch also paid a checkout and a checkin (a rollback on return), reading and setting
    back the busy timeout, and SQLAlchemy's transaction with its begin event (bench/README.md).

    A batch whose transaction fails is rolled back and its requests are stored one by one, as
    on PostgreSQL; a failure other than the lock not had in time (StoreTimeout) is
    StoreUnavailable, and the connection is closed and made again for the next batch (at
    once, and the batch tried again, when the kept connection had been closed).
    `dispose` (when the app's engine is disposed: a restore, the tests) closes it.
    """

    def __init__(self, engine) -> None:
        self.engine = engine
        self._raw = None  # the driver's connection, made on first use
        self._writing = threading.Lock()  # held while a batch is written (dispose waits)
        self._disposed = False

    def _connection(self):
        if self._raw is None:
            fairy = self.engine.raw_connection()
            fairy.detach()  # ours now: the pool neither resets it nor hands it out
            self._raw = fairy.dbapi_connection
        return self._raw

    def _close(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            try:
                raw.close()
            except sqlite3.Error:
                pass

    def _begin(self, raw, deadline: float | None) -> None:
        """BEGIN IMMEDIATE after this connection's turn among writers, both waited for at
        most until `deadline` (StoreTimeout when the lock was not had by then)."""
        if deadline is None:
            left = SQLITE_BUSY_TIMEOUT_MS / 1000
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreTimeout("no time left to wait for the database's write lock")
        turns = isinstance(raw, TurnTakingConnection)
        if turns:
            raw.take_turn(left)
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
        try:
            raw.execute(f"PRAGMA busy_timeout={int(left * 1000)}")
            raw.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            if turns:
                raw.give_turn()
            if isinstance(exc, sqlite3.OperationalError) and _locked(exc):
                raise StoreTimeout(
                    f"the database stayed locked for {int(left * 1000)} ms") from exc
            raise

    def _transaction(self, items: list[tuple[list[dict], str | None]],
                     deadline: float | None) -> list[StoreResult]:
        try:
            raw = self._connection()
            self._begin(raw, deadline)
            try:
                now = utcnow()
                results = [_sqlite_store(raw, self.engine.dialect, events, destination, now)
                           for events, destination in items]
                raw.commit()  # gives the turn back (TurnTakingConnection)
                return results
            except BaseException:
                raw.rollback()
                raise
        except StoreTimeout:
            raise
        except Exception as exc:  # the driver's or the engine's: a new connection next time
            self._close()
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}".strip()) from exc

    def write_batch(self, items: list[tuple[list[dict], str | None]],
                    deadline: float | None = None) -> list[StoreResult | Exception]:
        """A batch's requests in one transaction; if it fails, each in its own."""
        with self._writing:
            if self._disposed:
                self._disposed = False
                self._close()
            kept = self._raw is not None
            try:
                return self._transaction(items, deadline)
            except StoreTimeout as exc:
                return [exc] * len(items)
            except StoreUnavailable as exc:
                if kept and isinstance(exc.__cause__, sqlite3.ProgrammingError):
                    # the kept connection was closed under us: once more on a new one
                    try:
                        return self._transaction(items, deadline)
                    except StoreTimeout as again:
                        return [again] * len(items)
                    except StoreUnavailable as again:
                        exc = again
                if len(items) == 1:
                    return [exc]
            results: list[StoreResult | Exception] = []
            for one in items:
                try:
                    results.extend(self._transaction([one], deadline))
                except (StoreTimeout, StoreUnavailable) as exc:
                    results.append(exc)
            return results

    def dispose(self) -> None:
        """Close the connection now, or after the batch being written."""
        if self._writing.acquire(blocking=False):
            try:
                self._close()
            finally:
                self._writing.release()
        else:
            self._disposed = True


@cache
def _pg_insert_text() -> str:
    """INSERT ... SELECT FROM json_to_recordset(%s) ... ON CONFLICT DO NOTHING RETURNING the
    event ids stored, for a JSON array of `_rows` (bot.recordset)."""
    table = InboxEvent.__table__
    names = [c.name for c in table.columns if c.name in ROW_COLUMNS]
    types = recordset.columns(table, names, postgresql.dialect())
    columns = ", ".join(names)
    return (f"INSERT INTO {table.name} ({columns}) SELECT {columns} "
            f"FROM json_to_recordset(%s::json) AS r({types}) "
            f"ON CONFLICT (webhook_event_id) DO NOTHING RETURNING webhook_event_id")


class StoreTimeout(Exception):
    """The database's write lock was not had in time: nothing was stored (answer 503; LINE
    redelivers)."""


class GroupCommit:
    """Concurrent webhook requests of one process stored in one transaction (SQLite), or by
    one statement (PostgreSQL, with `writer=PgWriter(engine).write_batch`).

    SQLite has one writer at a time, and each commit is a flush to disk: with several request
    threads in a process, each taking the write lock for its own insert, they queue behind
    each other and SQLite's busy handler (sleeps of 1, 2, 5, 10 ... ms). Here a request
    joins the open batch; the first to join it waits for the previous batch's commit, then
    closes the batch and stores every request's events in one transaction. Each request is
    answered only after that commit, so an acknowledged event is always committed. If the
    batch's transaction fails, its requests are stored one by one, so one bad request cannot
    fail the others; a request whose own transaction fails gets the error (503).

    The wait is bounded (`wait_seconds`, WEBHOOK_DB_WAIT_MS): LINE gives up on a webhook
    after 2 s, so a request that would wait longer for the write lock (the file locked by a
    long transaction elsewhere, a backup restore, a stuck process) is better answered 503
    with nothing stored, and redelivered, than stored after LINE stopped listening. The
    bound runs from the moment the first request of a batch arrived: its waits for the
    previous batch and for SQLite's lock (the connection's busy timeout, set for that
    transaction only) together stay within it.
    """

    def __init__(self, engine, wait_seconds: float | None = None, writer=None) -> None:
        self.engine = engine
        # what stores a batch: SqliteWriter's transaction by default, or PgWriter.write_batch
        self.write_batch = writer or SqliteWriter(engine).write_batch
        self.wait = wait_seconds if wait_seconds and wait_seconds > 0 else None
        self.mutex = threading.Lock()  # guards `open`
        self.writing = threading.Lock()  # one batch written at a time
        self.open: _Batch | None = None

    def store(self, events: list[dict], destination: str | None) -> StoreResult:
        deadline = time.monotonic() + self.wait if self.wait is not None else None
        with self.mutex:
            batch = self.open
            leader = batch is None
            if leader:
                batch = self.open = _Batch()
            index = len(batch.items)
            batch.items.append((events, destination))
        if leader:
            # meanwhile, later requests join this batch
            if self.writing.acquire(timeout=-1 if deadline is None
                                    else max(0.0, deadline - time.monotonic())):
                try:
                    with self.mutex:
                        self.open = None
                    batch.write(self.write_batch, deadline)
                finally:
                    self.writing.release()
            else:  # the previous batch still waits for the database: give up on this one
                with self.mutex:
                    if self.open is batch:
                        self.open = None
                batch.fail(StoreTimeout("the previous webhook batch still holds the way to "
                                        "the database"))
        else:
            batch.done.wait()
        result = batch.results[index]
        if isinstance(result, StoreTimeout):
            raise StoreTimeout(str(result))  # one each: the batch's requests share the cause
        if isinstance(result, Exception):
            raise result
        return result


class _Batch:
    def __init__(self) -> None:
        self.items: list[tuple[list[dict], str | None]] = []
        self.results: list[StoreResult | Exception] = []
        self.done = threading.Event()

    def write(self, write_batch, deadline: float | None = None) -> None:
        try:
            self.results = write_batch(self.items, deadline)
        except Exception as exc:
            self.results = [exc] * len(self.items)
        finally:
            self.done.set()

    def fail(self, exc: Exception) -> None:
        self.results = [exc] * len(self.items)
        self.done.set()


def _locked(exc: Exception) -> bool:
    """A SQLite error (the driver's, or SQLAlchemy's around it) saying the file is locked."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return "locked" in text or "busy" in text


@cache
def _insert_events(dialect: str):
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(InboxEvent.__table__)
        .on_conflict_do_nothing(index_elements=["webhook_event_id"])
        .returning(InboxEvent.id)  # psycopg reports no rowcount for ON CONFLICT DO NOTHING
    )


def users_with_work(session: Session, now: dt.datetime, limit: int = 20,
                    scan: int | None = None) -> list[str]:
    """Users with pending events that are due and whose lease nobody holds, the
    longest-waiting first.

    Only the `scan` oldest such events are looked at (by the index on status and arrival,
    at least 500): with a backlog of thousands, grouping every pending event on each round
    cost the database a few milliseconds a round; the users further back come forward as
    the older events are handled."""
    return list(session.scalars(_users_with_work(limit, scan or max(500, limit * 10)),
                                {"now": now}))


# The statements a worker runs every round are built once (with bound parameters) and kept:
# building a SQLAlchemy statement and its cache key each time cost more of the worker's CPU
# than executing it, a few milliseconds a round (bench/README.md).


@cache
def _users_with_work(limit: int, scan: int):
    now = sa.bindparam("now", type_=InboxEvent.available_at.type)
    due = sa.or_(InboxEvent.available_at.is_(None), InboxEvent.available_at <= now)
    held = (
        sa.select(InboxLease.user_key)
        .where(InboxLease.user_key == InboxEvent.user_key, InboxLease.owner.is_not(None),
               InboxLease.expires_at >= now)
        .exists()
    )
    oldest = (
        sa.select(InboxEvent.user_key, InboxEvent.id)
        .where(InboxEvent.status == InboxEvent.PENDING, due, ~held)
        .order_by(InboxEvent.received_at, InboxEvent.id)
        .limit(scan)
        .subquery()
    )
    return (
        sa.select(oldest.c.user_key)
        .group_by(oldest.c.user_key)
        .order_by(sa.func.min(oldest.c.id))
        .limit(limit)
    )


@cache
def _take_leases():
    now = sa.bindparam("now", type_=InboxLease.expires_at.type)
    return (
        sa.update(InboxLease)
        .where(InboxLease.user_key.in_(sa.bindparam("keys", expanding=True)),
               sa.or_(InboxLease.owner.is_(None), InboxLease.expires_at < now))
        .values(owner=sa.bindparam("holder"),
                expires_at=sa.bindparam("until", type_=InboxLease.expires_at.type))
        .returning(InboxLease.user_key)
    )


@cache
def _pending_of(per_user: int):
    order = sa.func.row_number().over(partition_by=InboxEvent.user_key,
                                      order_by=(InboxEvent.occurred_ms, InboxEvent.id))
    ranked = (
        sa.select(InboxEvent, order.label("n"))
        .where(InboxEvent.status == InboxEvent.PENDING,
               InboxEvent.user_key.in_(sa.bindparam("keys", expanding=True)))
        .subquery()
    )
    row = aliased(InboxEvent, ranked)
    return (sa.select(row).where(ranked.c.n <= per_user)
            .order_by(ranked.c.user_key, ranked.c.occurred_ms, ranked.c.id))


def _held_leases():
    """An UPDATE of the leases of users `keys` that `holder` still holds."""
    return sa.update(InboxLease).where(
        InboxLease.user_key.in_(sa.bindparam("keys", expanding=True)),
        InboxLease.owner == sa.bindparam("holder"))


@cache
def _release_leases():
    return (_held_leases().values(owner=None, expires_at=None)
            .execution_options(synchronize_session=False))


@cache
def _extend_leases():
    return (_held_leases()
            .values(expires_at=sa.bindparam("until", type_=InboxLease.expires_at.type))
            .returning(InboxLease.user_key))


@dataclass(frozen=True)
class Claim:
    """The users a worker leased in one round, and their events to handle, in order."""

    user_keys: list[str]
    events: dict[str, list[InboxEvent]]  # detached rows: reading them issues no query


def claim(session: Session, owner: str, seconds: float, limit_users: int = 20,
          per_user: int = 50) -> Claim:
    """Lease up to `limit_users` users with due work that nobody holds and read their pending
    events (each user's in timestamp order, up to the first one not due yet, at most
    `per_user`): one transaction, committed. Give the leases back with `release_leases`."""
    now = utcnow()
    keys = users_with_work(session, now, limit_users)
    if not keys:
        session.rollback()
        return Claim([], {})
    connection = session.connection()
    connection.execute(_insert_lease(connection.dialect.name),
                       [{"user_key": key} for key in keys])
    taken = set(connection.execute(_take_leases(), {
        "keys": keys, "now": now, "holder": owner,
        "until": now + dt.timedelta(seconds=seconds)}).scalars())
    keys = [key for key in keys if key in taken]
    events: dict[str, list[InboxEvent]] = {key: [] for key in keys}
    if keys:
        rows = session.scalars(_pending_of(per_user), {"keys": keys}).all()
        blocked: set[str] = set()
        for event in rows:
            session.expunge(event)
            if event.user_key in blocked:
                continue
            if event.available_at is not None and event.available_at > now:
                blocked.add(event.user_key)  # a failed event waits for its retry, and the
                continue  # later ones wait behind it
            events[event.user_key].append(event)
    session.commit()
    return Claim(keys, events)


@cache
def _insert_lease(dialect: str):
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (insert(InboxLease.__table__)
            .values(owner=None, expires_at=None)
            .on_conflict_do_nothing(index_elements=["user_key"]))


def release_leases(session: Session, user_keys: list[str], owner: str) -> None:
    """Give back the leases of a round (only those we still hold) and commit."""
    if not user_keys:
        return
    session.execute(_release_leases(), {"keys": list(user_keys), "holder": owner})
    session.commit()


def acquire_lease(session: Session, user_key: str, owner: str, seconds: float) -> bool:
    """Take the lease on one user's events if it is free or expired; commit; say if we got it."""
    now = utcnow()
    session.execute(
        dialect_insert(session, InboxLease)
        .values(user_key=user_key, owner=None, expires_at=None)
        .on_conflict_do_nothing(index_elements=["user_key"])
    )
    taken = session.execute(
        sa.update(InboxLease)
        .where(
            InboxLease.user_key == user_key,
            sa.or_(InboxLease.owner.is_(None), InboxLease.expires_at < now),
        )
        .values(owner=owner, expires_at=now + dt.timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return taken == 1


def extend_lease(session: Session, user_key: str, owner: str, seconds: float) -> bool:
    """Within the caller's transaction, prove we still hold the lease and push its expiry on."""
    now = utcnow()
    return (
        session.execute(
            sa.update(InboxLease)
            .where(InboxLease.user_key == user_key, InboxLease.owner == owner)
            .values(expires_at=now + dt.timedelta(seconds=seconds))
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def extend_leases(session: Session, user_keys: list[str], owner: str,
                  seconds: float) -> set[str]:
    """Within the caller's transaction (best as its first statement: on PostgreSQL the rows
    stay locked until it ends, so nobody can take them over meanwhile), prove we still hold
    these users' leases and push their expiry on; return the keys we hold."""
    if not user_keys:
        return set()
    return set(session.connection().execute(_extend_leases(), {
        "keys": list(user_keys), "holder": owner,
        "until": utcnow() + dt.timedelta(seconds=seconds)}).scalars())


def release_lease(session: Session, user_key: str, owner: str) -> None:
    """Give a user's lease back (only if we still hold it) and commit."""
    session.execute(
        sa.update(InboxLease)
        .where(InboxLease.user_key == user_key, InboxLease.owner == owner)
        .values(owner=None, expires_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def lag_seconds(session: Session, now: dt.datetime | None = None) -> float:
    """Age of the oldest unhandled event in seconds (0 when the inbox is drained)."""
    oldest = session.scalar(
        sa.select(sa.func.min(InboxEvent.received_at)).where(
            InboxEvent.status == InboxEvent.PENDING
        )
    )
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    return max(0.0, ((now or utcnow()) - oldest).total_seconds())
