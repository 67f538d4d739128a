"""Engine creation for SQLite (WAL, busy timeout, immediate transactions) and PostgreSQL."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading

import sqlalchemy as sa
from sqlalchemy.engine import make_url

DEFAULT_DATABASE_URL = "sqlite:///instance/emulator.db"
SQLITE_BUSY_TIMEOUT_MS = 15_000


def normalize_url(url: str) -> str:
    """Rewrite ``postgresql://`` and ``postgres://`` URLs to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> sa.Engine:
    """Create an engine for ``url``; for SQLite make the file's folder and set WAL mode."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        folder = os.path.dirname(os.path.abspath(parsed.database))
        os.makedirs(folder, exist_ok=True)
    lock = None
    if parsed.database and parsed.database != ":memory:":
        lock = WriterLock(os.path.abspath(parsed.database) + ".writer-lock")
    engine = sa.create_engine(url, connect_args={"factory": _connection_class(lock)})
    sa.event.listen(engine, "connect", _configure_sqlite_connection)
    sa.event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite_connection(dbapi_connection, _record) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _begin_immediate), then set WAL and a busy timeout.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


#: Execution option for a transaction that only reads: a plain (deferred) BEGIN, which in WAL
#: mode neither waits for nor blocks the writers.
READ_ONLY = {"emulator_read_only": True}


def _begin_immediate(connection) -> None:
    # Take the write lock at BEGIN so that two writers wait for each other (busy_timeout)
    # instead of failing when a read lock is upgraded.
    if connection.get_execution_options().get("emulator_read_only"):
        connection.exec_driver_sql("BEGIN")
        return
    dbapi_connection = connection.connection.dbapi_connection
    if isinstance(dbapi_connection, _WriterConnection):
        dbapi_connection.take_writer_lock()
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class WriterLock:
    """Writers to one SQLite file take turns here before BEGIN IMMEDIATE, and are woken as soon
    as the writer before them ends.

    SQLite's own lock stays the one that counts; this only orders the waiting. Without it, a
    writer that finds the file locked sleeps in SQLite's busy handler (1, 2, 5, 10 ms... between
    tries) while a write takes a tenth of a millisecond: with gunicorn's threads and processes
    sending at once, the emulator spent most of its time asleep (bench/README.md). Threads of a
    process queue on a threading lock, processes on an flock(2) of a file beside the database
    (opened once per process: a descriptor shared across fork would share the lock too).
    Taking it gives up after the busy timeout and lets SQLite's busy handler decide, as before.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def _descriptor(self) -> int:
        if self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> bool:
        if not self._threads.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            return False
        try:
            fcntl.flock(self._descriptor(), fcntl.LOCK_EX)
        except OSError:
            self._threads.release()
            return False
        return True

    def release(self) -> None:
        try:
            fcntl.flock(self._descriptor(), fcntl.LOCK_UN)
        finally:
            self._threads.release()


class _WriterConnection(sqlite3.Connection):
    """A pysqlite connection that holds its engine's WriterLock from BEGIN IMMEDIATE until its
    COMMIT or ROLLBACK has run (SQLAlchemy's commit event comes before the COMMIT)."""

    writer_lock: WriterLock | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._holds_writer_lock = False

    def take_writer_lock(self) -> None:
        if self.writer_lock is not None and not self._holds_writer_lock:
            self._holds_writer_lock = self.writer_lock.acquire()

    def _give_writer_lock(self) -> None:
        if self._holds_writer_lock:
            self._holds_writer_lock = False
            self.writer_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._give_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._give_writer_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._give_writer_lock()


def _connection_class(lock: WriterLock | None) -> type[sqlite3.Connection]:
    """A connection class bound to one engine's lock (None: in memory, nothing to share)."""
    return type("WriterConnection", (_WriterConnection,), {"writer_lock": lock})
