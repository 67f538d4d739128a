"""Writers to one SQLite file that take turns on a lock and are woken when it is given back.

SQLite lets one writer in at a time. A connection that finds the file locked waits in SQLite's
busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25 ... ms between tries, while most writes here
take well under a millisecond: with several threads and processes writing at once, writers
spent more time asleep than writing (bench/README.md: the emulator's reply API, Samoe's
webhook beside its workers). Here a writer first takes its turn: threads of a process queue on
a threading lock, processes on an flock(2) of a file beside the database. The turn is held
from BEGIN IMMEDIATE until the transaction's COMMIT or ROLLBACK has run (or the BEGIN failed).

SQLite's own lock is still the one that counts: a writer that does not take turns (another
program, a test holding the file) is waited for by the busy timeout as before, and a writer
that does not get its turn in time goes on to BEGIN IMMEDIATE and lets SQLite decide.

Used by Samoe's engine on SQLite (bot.extensions; the webhook's own connection, made by that
engine, bounds its wait itself: bot.inbox.SqliteWriter) and by the emulator's
(emulator.database): a module of its own, since the emulator runs without Samoe.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time

#: How often a writer waiting for another process looks again (s). The wait is bounded, so it
#: cannot block in flock(2) (which has no timeout): it looks at most this late.
POLL_SECONDS = 0.0005


class WriterLock:
    """One database file's turn: a threading lock for this process's threads, then an
    exclusive flock(2) of `path` (its descriptor opened once per process: a descriptor shared
    across fork would share the lock too)."""

    _opening = threading.Lock()

    def __init__(self, path: str) -> None:
        self.path = path
        self._pid = 0
        self._threads = threading.Lock()
        self._fd = -1

    def _own(self) -> None:
        if self._pid == os.getpid():
            return
        with self._opening:  # first use, or a child after fork: nothing is shared
            if self._pid != os.getpid():
                self._threads = threading.Lock()
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._pid = os.getpid()

    def acquire(self, timeout: float) -> bool:
        """Take the turn within `timeout` seconds; False if it was not had in time."""
        deadline = time.monotonic() + timeout
        self._own()
        if not self._threads.acquire(timeout=max(0.0, timeout)):
            return False
        try:
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(POLL_SECONDS)
        except OSError:
            pass
        self._threads.release()
        return False

    def release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


class TurnTakingConnection(sqlite3.Connection):
    """A pysqlite connection that can hold its database's WriterLock from BEGIN until its
    COMMIT or ROLLBACK has run (SQLAlchemy's commit event comes before the COMMIT, hence a
    connection class: pass it as `connect_args={"factory": connection_class(path)}`)."""

    writer_lock: WriterLock | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._has_turn = False

    def take_turn(self, timeout: float) -> None:
        """Wait for this database's turn (at most `timeout` s); not had in time, the caller
        goes on and SQLite's busy timeout decides."""
        if self.writer_lock is None or self._has_turn:
            return
        self._has_turn = self.writer_lock.acquire(timeout)

    def give_turn(self) -> None:
        if self._has_turn:
            self._has_turn = False
            self.writer_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.give_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.give_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.give_turn()


def connection_class(database: str | None) -> type[sqlite3.Connection]:
    """A TurnTakingConnection class for the SQLite file `database` (its lock file beside it);
    plain connections for an in-memory database (nothing to share)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return sqlite3.Connection
    lock = WriterLock(os.path.abspath(database) + ".writer-lock")
    return type("TurnTakingConnection", (TurnTakingConnection,), {"writer_lock": lock})


def begin_immediate(connection, timeout: float) -> None:
    """BEGIN IMMEDIATE on a SQLAlchemy connection, after its turn (within `timeout` s)."""
    raw = connection.connection.dbapi_connection
    if not isinstance(raw, TurnTakingConnection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        return
    raw.take_turn(timeout)
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        # no transaction began, so nothing is sure to end one: the turn is given back here,
        # not kept by a connection idle in the pool while the other writers wait for it
        raw.give_turn()
        raise
